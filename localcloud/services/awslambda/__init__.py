"""AWS Lambda: runtimes and workers, Invoke, event source mappings and their filters, responses."""
