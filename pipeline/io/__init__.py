"""Reading export files into raw tables and writing outputs atomically."""
