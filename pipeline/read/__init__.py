"""Reading export files: CSV (UTF-8, GB18030), XLSX, Parquet and zip archives, as raw text cells."""
