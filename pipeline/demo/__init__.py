"""The demo-data generator behind `doudian fixtures`."""
