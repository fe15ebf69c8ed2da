"""Media: uploads to object storage (S3, or local disk in dev), checked before they are served, and
delivered through short-lived signed URLs (CloudFront, S3 presigned GET, or the service's own)."""
