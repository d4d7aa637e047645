"""Writing outputs: atomic files, formula-safe text, the one XLSX writer."""
