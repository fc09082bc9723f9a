"""What a study gives back: exports, the report, plots and the dashboard's artifacts."""
