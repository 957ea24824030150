"""The predict API Lambda: validates an uploaded image, calls the SageMaker endpoint, answers per DESIGN.md."""
