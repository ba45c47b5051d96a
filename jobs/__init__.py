"""Jobs: collection, classification, story grouping and scheduling."""
