"""The predict API Lambda: validates an image, calls the SageMaker endpoint, answers per DESIGN.md."""
