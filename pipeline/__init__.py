"""doudian-batch: batch jobs over 抖店 exports."""

import os

__version__ = "0.1.0"

# polars' streaming engine cuts a Parquet row group into pieces of work of up to this
# many rows (its default is 100,000). The wide plans that check a file hold several
# pieces at once: with the default, a 10M-row settlement from Parquet (125,000-row
# groups) peaked between 0.8 and 1.2 GiB from run to run; with 25,000 at 0.8 to 0.9 GiB,
# a little faster, and with the same outputs. It is read once, by the first streaming
# query; set it in the environment to override.
os.environ.setdefault("POLARS_IDEAL_MORSEL_SIZE", "25000")
