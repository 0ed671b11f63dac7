"""Uploads one file with boto3's `upload_file` (the Python SDK's uploader) and prints the
throughput, to compare with `examples/bucket_upload.rs` on the same file and server.

    AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
      python3 benches/boto3_upload.py FILE --endpoint http://127.0.0.1:5000 --bucket b

Options: --chunk-mib (default 10, as the Python SDK), --concurrency (boto3's default 10).
boto3 sends a CRC32 checksum of each part by default (the CRC32C would need awscrt).
"""

import argparse
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--key", default=None)
    parser.add_argument("--chunk-mib", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    config = TransferConfig(
        multipart_threshold=args.chunk_mib * 1024 * 1024,
        multipart_chunksize=args.chunk_mib * 1024 * 1024,
        max_concurrency=args.concurrency,
    )
    key = args.key or f"bench/boto3-{time.time_ns()}"
    started = time.perf_counter()
    s3.upload_file(args.file, args.bucket, key, Config=config)
    secs = time.perf_counter() - started
    size = s3.head_object(Bucket=args.bucket, Key=key)["ContentLength"]
    print(f"{size} bytes in {secs:.2f} s = {size / 1048576 / secs:.1f} MiB/s "
          f"(boto3 upload_file, {args.chunk_mib} MiB parts, {args.concurrency} threads)")


if __name__ == "__main__":
    main()
