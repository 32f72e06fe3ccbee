"""Feature definitions, Spark feature jobs and the point-in-time join shared by training and inference."""
