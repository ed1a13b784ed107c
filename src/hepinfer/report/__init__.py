"""Tables, plots and pages, built only from result records."""
