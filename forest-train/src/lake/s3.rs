//! The S3 backend: `s3://bucket/prefix` is the lake root, keys are object
//! keys below the prefix.
//!
//! The SDK is async; this backend owns a current-thread tokio runtime and
//! `block_on`s each call so the lake stays a plain blocking API that rayon
//! tasks can share (several threads may `block_on` the same runtime).
//!
//! Atomic writes: S3 never shows a partly written object for a single
//! PutObject, so objects up to [`PART_SIZE`] go straight to their key. Larger
//! ones are uploaded in parts to `tmp/<unique>`, completed, copied to the
//! final key (a copy also appears all at once) and the tmp object deleted; on
//! any failure the multipart upload is aborted and the tmp object deleted,
//! so nothing half-written is ever visible under the final key. Lifecycle
//! rules on `tmp/` catch what a crashed process leaves behind.
//!
//! Every request carries a CRC32 checksum that S3 verifies, and the client
//! is bounded (3 attempts, 3 s connect, 60 s per operation) so a dead
//! endpoint is an error within seconds, not a hang.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    CreateBucketConfiguration, Delete, ObjectIdentifier,
};
use aws_sdk_s3::Client;

use super::{unique_name, validate_key, LakeError, S3Options, TMP_PREFIX};

/// Objects up to this size are one PutObject; larger ones are multipart
/// uploads with parts of this size (S3's minimum part is 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

/// CopyObject's limit; larger objects would need UploadPartCopy.
const MAX_COPY_SIZE: usize = 5 << 30;

/// DeleteObjects takes at most this many keys per request.
const DELETE_BATCH: usize = 1000;

/// A lake rooted at `s3://bucket/prefix`.
#[derive(Debug)]
pub struct S3Lake {
    location: String,
    bucket: String,
    /// The key prefix of the root: empty, or ending in '/'.
    root: String,
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl S3Lake {
    /// Parses the location and builds the client; makes no request.
    pub fn open(location: &str, options: &S3Options) -> Result<Self, LakeError> {
        let (bucket, root) = parse_location(location)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| LakeError::Io {
                url: location.to_string(),
                error,
            })?;
        let client = runtime.block_on(build_client(options));
        Ok(S3Lake {
            location: location.to_string(),
            bucket,
            root,
            client,
            runtime,
        })
    }

    /// The location as given to [`S3Lake::open`].
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The bucket the lake lives in.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of a lake key.
    pub fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }

    /// The `s3://bucket/object-key` URL of `key`, for messages.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object_key(key))
    }

    /// The error for a failed request, with the SDK's code, message and cause chain.
    fn error<E: std::error::Error>(&self, key: &str, operation: &'static str, e: E) -> LakeError {
        LakeError::S3 {
            url: self.url(key),
            operation,
            message: DisplayErrorContext(&e).to_string(),
        }
    }

    /// An error in the multipart path: it names the key being written (what
    /// the caller knows) and the tmp object the bytes were staged at.
    fn staging_error<E: std::error::Error>(
        &self,
        key: &str,
        tmp_key: &str,
        operation: &'static str,
        e: E,
    ) -> LakeError {
        LakeError::S3 {
            url: self.url(key),
            operation,
            message: format!(
                "staging at {}: {}",
                self.url(tmp_key),
                DisplayErrorContext(&e)
            ),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Result<Vec<u8>, LakeError> {
        self.runtime.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.object_key(key))
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(s) if s.is_no_such_key() => LakeError::NotFound { url: self.url(key) },
                    _ => self.error(key, "GetObject", e),
                })?;
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| self.error(key, "GetObject", e))?;
            Ok(body.into_bytes().to_vec())
        })
    }

    pub(crate) fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        if bytes.len() > MAX_COPY_SIZE {
            return Err(LakeError::S3 {
                url: self.url(key),
                operation: "PutObject",
                message: format!(
                    "{} bytes is over the 5 GiB this lake can write atomically",
                    bytes.len()
                ),
            });
        }
        self.runtime.block_on(async {
            if bytes.len() <= PART_SIZE {
                self.put_single(&self.object_key(key), bytes.to_vec())
                    .await
                    .map_err(|e| self.error(key, "PutObject", e))
            } else {
                self.put_multipart(key, bytes).await
            }
        })
    }

    async fn put_single(
        &self,
        object_key: &str,
        bytes: Vec<u8>,
    ) -> Result<(), aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError>>
    {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(object_key)
            .body(ByteStream::from(bytes))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map(|_| ())
    }

    /// Multipart upload to a tmp key, then copy into place; cleans up the tmp
    /// object and the upload whatever happens.
    async fn put_multipart(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        let tmp_key = format!("{TMP_PREFIX}{}", unique_name());
        let tmp_object = self.object_key(&tmp_key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&tmp_object)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.staging_error(key, &tmp_key, "CreateMultipartUpload", e))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(LakeError::S3 {
                url: self.url(key),
                operation: "CreateMultipartUpload",
                message: format!(
                    "staging at {}: the response has no UploadId",
                    self.url(&tmp_key)
                ),
            });
        };
        let outcome = self.upload_and_copy(key, &tmp_key, upload_id, bytes).await;
        if outcome.is_err() {
            let aborted = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&tmp_object)
                .upload_id(upload_id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(url = %self.url(&tmp_key), error = %DisplayErrorContext(&e), "could not abort multipart upload");
            }
        }
        let deleted = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&tmp_object)
            .send()
            .await;
        if let Err(e) = deleted {
            // The final object is already whole (or absent); a stray tmp
            // object is for the tmp/ lifecycle rule, not a failed write.
            tracing::warn!(url = %self.url(&tmp_key), error = %DisplayErrorContext(&e), "could not delete tmp object");
        }
        outcome
    }

    async fn upload_and_copy(
        &self,
        key: &str,
        tmp_key: &str,
        upload_id: &str,
        bytes: &[u8],
    ) -> Result<(), LakeError> {
        let tmp_object = self.object_key(tmp_key);
        let mut parts = Vec::with_capacity(bytes.len().div_ceil(PART_SIZE));
        for (i, chunk) in bytes.chunks(PART_SIZE).enumerate() {
            let part_number = i as i32 + 1;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(&tmp_object)
                .upload_id(upload_id)
                .part_number(part_number)
                .body(ByteStream::from(chunk.to_vec()))
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .send()
                .await
                .map_err(|e| self.staging_error(key, tmp_key, "UploadPart", e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                    .build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&tmp_object)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.staging_error(key, tmp_key, "CompleteMultipartUpload", e))?;
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .copy_source(format!("{}/{}", self.bucket, percent_encode(&tmp_object)))
            // A fresh full-object checksum: readers then verify the whole
            // object, not a composite of part checksums.
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.error(key, "CopyObject", e))?;
        Ok(())
    }

    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let object_prefix = self.object_key(prefix);
        self.runtime.block_on(async {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let out = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&object_prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| self.error(prefix, "ListObjectsV2", e))?;
                for object in out.contents() {
                    let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.root)) else {
                        continue;
                    };
                    // Skip prefix markers ("silver/") and scratch objects.
                    if !key.is_empty() && !key.ends_with('/') && !key.starts_with(TMP_PREFIX) {
                        keys.push(key.to_string());
                    }
                }
                token = out.next_continuation_token().map(str::to_string);
                if out.is_truncated() != Some(true) || token.is_none() {
                    return Ok(keys);
                }
            }
        })
    }

    pub(crate) fn exists(&self, key: &str) -> Result<bool, LakeError> {
        self.runtime.block_on(async {
            let head = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(self.object_key(key))
                .send()
                .await;
            match head {
                Ok(_) => Ok(true),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
                Err(e) => Err(self.error(key, "HeadObject", e)),
            }
        })
    }

    pub(crate) fn delete(&self, key: &str) -> Result<(), LakeError> {
        self.runtime.block_on(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.object_key(key))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error(key, "DeleteObject", e))
        })
    }

    /// Deletes `keys` with DeleteObjects, 1000 per request; any per-key
    /// failure S3 reports is an error naming that key.
    pub(crate) fn delete_keys(&self, keys: &[String]) -> Result<(), LakeError> {
        self.runtime.block_on(async {
            for batch in keys.chunks(DELETE_BATCH) {
                let objects = batch
                    .iter()
                    .map(|k| ObjectIdentifier::builder().key(self.object_key(k)).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.error(&batch[0], "DeleteObjects", e))?;
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| self.error(&batch[0], "DeleteObjects", e))?;
                let out = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| self.error(&batch[0], "DeleteObjects", e))?;
                if let Some(failed) = out.errors().first() {
                    let object_key = failed.key().unwrap_or_default();
                    return Err(LakeError::S3 {
                        url: format!("s3://{}/{object_key}", self.bucket),
                        operation: "DeleteObjects",
                        message: format!(
                            "{} of {} keys failed; first: {}: {}",
                            out.errors().len(),
                            batch.len(),
                            failed.code().unwrap_or("unknown error"),
                            failed.message().unwrap_or_default()
                        ),
                    });
                }
            }
            Ok(())
        })
    }

    /// A zero-byte `prefix/` object, the console's notion of a folder.
    pub(crate) fn put_marker(&self, prefix: &str) -> Result<(), LakeError> {
        self.runtime
            .block_on(self.put_single(&self.object_key(prefix), Vec::new()))
            .map_err(|e| self.error(prefix, "PutObject", e))
    }

    pub(crate) fn create_bucket_if_missing(&self) -> Result<bool, LakeError> {
        let url = format!("s3://{}", self.bucket);
        let error = |operation, message| LakeError::S3 {
            url: url.clone(),
            operation,
            message,
        };
        self.runtime.block_on(async {
            match self.client.head_bucket().bucket(&self.bucket).send().await {
                Ok(_) => return Ok(false),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
                Err(e) => return Err(error("HeadBucket", DisplayErrorContext(&e).to_string())),
            }
            let mut create = self.client.create_bucket().bucket(&self.bucket);
            // us-east-1 is the one region that must not be named as a constraint.
            if let Some(region) = self.client.config().region().map(Region::as_ref) {
                if region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(region))
                            .build(),
                    );
                }
            }
            match create.send().await {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(error("CreateBucket", DisplayErrorContext(&e).to_string())),
            }
        })
    }
}

/// Attempts per request (the first try and two retries).
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// Time to open a connection before the attempt fails.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time for a whole operation, retries included.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
/// The region when none is configured.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// The AWS configuration every client of this crate is built from (S3 for
/// the lake, SageMaker for the registry and training jobs): the default
/// chain overridden by `options`, with bounded retries and timeouts so a
/// dead endpoint is an error within seconds, not a hang.
pub(crate) async fn shared_config(options: &S3Options) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((key, secret)) = &options.credentials {
        loader = loader.credentials_provider(Credentials::new(key, secret, None, None, "static"));
    }
    loader.load().await
}

/// The S3 client: [`shared_config`], path-style addressing for custom
/// endpoints (moto, MinIO), [`DEFAULT_REGION`] when no region is configured.
async fn build_client(options: &S3Options) -> Client {
    let shared = shared_config(options).await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    if shared.region().is_none() {
        config = config.region(Region::new(DEFAULT_REGION));
    }
    if options.endpoint_url.is_some() {
        config = config.force_path_style(true);
    }
    Client::from_conf(config.build())
}

/// Splits `s3://bucket[/prefix]` into the bucket and the root key prefix
/// (empty or ending in '/'), checking S3's bucket-name rules and the lake's
/// key rules for the prefix.
fn parse_location(location: &str) -> Result<(String, String), LakeError> {
    let invalid = |reason: String| LakeError::InvalidLocation {
        location: location.to_string(),
        reason,
    };
    let rest = location
        .strip_prefix("s3://")
        .ok_or_else(|| invalid("expected s3://bucket/prefix".into()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(
            "no bucket name (expected s3://bucket/prefix)".into(),
        ));
    }
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(invalid(format!(
            "{bucket:?} is not a valid bucket name (3-63 characters: lowercase letters, digits, '.', '-')"
        )));
    }
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if prefix.is_empty() {
        return Ok((bucket.to_string(), String::new()));
    }
    validate_key(prefix).map_err(|e| match e {
        LakeError::InvalidKey { reason, .. } => invalid(format!("prefix {prefix:?}: {reason}")),
        other => other,
    })?;
    Ok((bucket.to_string(), format!("{prefix}/")))
}

/// URL-encodes a key for CopyObject's `x-amz-copy-source` (keeping '/').
fn percent_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_s3_locations_parse() {
        assert_eq!(
            parse_location("s3://my-bucket").unwrap(),
            ("my-bucket".into(), "".into())
        );
        assert_eq!(
            parse_location("s3://my-bucket/").unwrap(),
            ("my-bucket".into(), "".into())
        );
        assert_eq!(
            parse_location("s3://b.c1/lake/dev/").unwrap(),
            ("b.c1".into(), "lake/dev/".into())
        );
        for bad in [
            "s3://",
            "s3:///x",
            "s3://Bucket/x",
            "s3://ab",
            "s3://b-/x",
            "s3://bkt//x",
            "s3://bkt/../x",
        ] {
            let err = parse_location(bad).unwrap_err();
            assert!(
                matches!(err, LakeError::InvalidLocation { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn lake_s3_copy_source_is_encoded() {
        assert_eq!(percent_encode("a b/ü+x.csv"), "a%20b/%C3%BC%2Bx.csv");
    }
}
