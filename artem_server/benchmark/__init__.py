"""`artem bench`: model-only and end-to-end timings per backend and precision, each row
compared with eager fp32 measured in the same run. Benchmarks time and report; they never
assert (the tests do that)."""
