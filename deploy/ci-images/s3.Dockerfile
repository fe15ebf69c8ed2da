# Stands in for minio/minio (CI only): the project's s3s-fs build, an S3 API over a directory that enforces
# presigned POST policies as MinIO and S3 do. compose.ci.yml gives it its key pair and data directory.
FROM coursegraph-ci/bookworm
COPY s3s-fs /usr/local/bin/s3s-fs
RUN useradd --system --uid 1001 s3 && mkdir /data && chown s3 /data
USER 1001
ENTRYPOINT ["s3s-fs"]
