//! SageMaker Model Registry as a registry backend: `sagemaker:<group>`.
//!
//! * the group is a ModelPackageGroup, created on first registration;
//! * a version is a model package: CreateModelPackage with
//!   ModelApprovalStatus PendingManualApproval (Rejected when the quality
//!   gates failed), an InferenceSpecification whose container's
//!   `ModelDataUrl` is the artifact in the lake (`artifacts/<sha256>.forest`),
//!   CustomerMetadataProperties with the metrics and the sha256, and
//!   ModelMetrics pointing at the evaluation's metrics.json in S3;
//! * approve and reject are UpdateModelPackage with the reason as
//!   ApprovalDescription;
//! * the latest approved version is ListModelPackages(Approved, sorted by
//!   CreationTime, descending), first entry.
//!
//! SageMaker keeps the current status, when it changed, by whom (the IAM
//! identity) and the reason, not a full trail; the history reported here is
//! creation plus the last change (CloudTrail has every UpdateModelPackage).
//!
//! The artifact's sha256 is read from the `ModelDataUrl` key, which is
//! content-addressed, and checked against the downloaded bytes: moto's
//! DescribeModelPackage does not return CustomerMetadataProperties, and a
//! registry record is not proof of what is in S3 anyway.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::operation::describe_model_package::DescribeModelPackageOutput;
use aws_sdk_sagemaker::primitives::{DateTime, DateTimeFormat};
use aws_sdk_sagemaker::types::{
    InferenceSpecification, MetricsSource, ModelApprovalStatus, ModelMetrics,
    ModelPackageContainerDefinition, ModelPackageSortBy, ModelPackageSummary, ModelQuality,
    SortOrder, UserContext,
};

use super::{ModelVersion, NewVersion, RegistryError, Status, StatusChange};
use crate::lake::{Lake, S3Options};
use crate::sagemaker::SageMaker;

/// The inference image a model package names when none is given: a
/// placeholder in the shape of an ECR URI. Set `--image` or
/// `FOREST_SERVE_IMAGE` to the forest-serve image you pushed.
pub const DEFAULT_IMAGE: &str =
    "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/forest-serve:latest";

/// A ModelPackageGroup in SageMaker Model Registry.
#[derive(Debug)]
pub struct SageMakerRegistry {
    group: String,
    sm: SageMaker,
    /// For downloading artifacts from the lake.
    s3: S3Options,
    image: String,
}

impl SageMakerRegistry {
    /// Checks the group name and builds the client; makes no request.
    pub fn open(group: &str, options: &S3Options) -> Result<Self, RegistryError> {
        // SageMaker's rule for ModelPackageGroupName.
        let ok = (1..=63).contains(&group.len())
            && group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !group.starts_with('-')
            && !group.ends_with('-');
        if !ok {
            return Err(RegistryError::InvalidSpec {
                spec: format!("sagemaker:{group}"),
                reason: "a ModelPackageGroupName has 1-63 letters, digits and inner '-'".into(),
            });
        }
        let image = std::env::var("FOREST_SERVE_IMAGE")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
        Ok(SageMakerRegistry {
            group: group.to_string(),
            sm: SageMaker::connect(options)?,
            s3: options.clone(),
            image,
        })
    }

    /// The inference image new versions name (default [`DEFAULT_IMAGE`] or
    /// `FOREST_SERVE_IMAGE`).
    pub fn set_image(&mut self, image: &str) {
        self.image = image.to_string();
    }

    /// `sagemaker:<group>`, for messages.
    pub fn describe(&self) -> String {
        format!("sagemaker:{}", self.group)
    }

    fn target(&self) -> String {
        format!("model package group {}", self.group)
    }

    /// DescribeModelPackageGroup; CreateModelPackageGroup if it does not exist.
    fn ensure_group(&self) -> Result<(), RegistryError> {
        let client = self.sm.client();
        let described = self.sm.block_on(
            client
                .describe_model_package_group()
                .model_package_group_name(&self.group)
                .send(),
        );
        match described {
            Ok(_) => return Ok(()),
            Err(e) if is_missing(&e) => {}
            Err(e) => {
                return Err(self
                    .sm
                    .error("DescribeModelPackageGroup", &self.target(), e)
                    .into())
            }
        }
        let created = self.sm.block_on(
            client
                .create_model_package_group()
                .model_package_group_name(&self.group)
                .model_package_group_description(
                    "forest: random forests for basket price sensitivity (forest-train register)",
                )
                .send(),
        );
        match created {
            Ok(_) => Ok(()),
            // Someone else created it between our two calls.
            Err(e) if e.message().is_some_and(|m| m.contains("already exists")) => Ok(()),
            Err(e) => Err(self
                .sm
                .error("CreateModelPackageGroup", &self.target(), e)
                .into()),
        }
    }

    /// CreateModelPackage in the group (created first if absent), naming the
    /// artifact's `s3://` URL; a version that failed the gates is created
    /// Rejected, with the reason as its ApprovalDescription.
    pub fn create(&self, new: &NewVersion) -> Result<ModelVersion, RegistryError> {
        let artifact_url = new.artifact_url.as_deref().ok_or_else(|| {
            RegistryError::Invalid("a SageMaker model package needs the artifact in S3".into())
        })?;
        self.ensure_group()?;
        let mut container = ModelPackageContainerDefinition::builder()
            .image(&self.image)
            .model_data_url(artifact_url);
        container = container.environment("FOREST_MODEL_SHA256", new.sha256);
        let inference = InferenceSpecification::builder()
            .containers(container.build())
            .supported_content_types("application/json")
            .supported_response_mime_types("application/json")
            .build();
        let mut request = self
            .sm
            .client()
            .create_model_package()
            .model_package_group_name(&self.group)
            .model_package_description(&new.description)
            .inference_specification(inference)
            .model_approval_status(if new.rejected.is_some() {
                ModelApprovalStatus::Rejected
            } else {
                ModelApprovalStatus::PendingManualApproval
            });
        for (k, v) in &new.metrics {
            // SageMaker's limits: keys 128, values 256 characters.
            let value: String = v.chars().take(256).collect();
            request = request
                .customer_metadata_properties(k.chars().take(128).collect::<String>(), value);
        }
        request = request.customer_metadata_properties("registered_by", new.by);
        if let Some(url) = &new.metrics_url {
            request = request.model_metrics(
                ModelMetrics::builder()
                    .model_quality(
                        ModelQuality::builder()
                            .statistics(
                                MetricsSource::builder()
                                    .content_type("application/json")
                                    .s3_uri(url)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            );
        }
        let created = self
            .sm
            .block_on(request.send())
            .map_err(|e| self.sm.error("CreateModelPackage", &self.target(), e))?;
        let arn = created
            .model_package_arn()
            .ok_or_else(|| {
                RegistryError::Invalid("CreateModelPackage returned no ModelPackageArn".into())
            })?
            .to_string();
        if let Some(reason) = &new.rejected {
            // CreateModelPackage has no ApprovalDescription: add the reason.
            self.update(&arn, ModelApprovalStatus::Rejected, Some(reason))?;
        }
        self.describe_arn(&arn)
    }

    fn update(
        &self,
        arn: &str,
        status: ModelApprovalStatus,
        reason: Option<&str>,
    ) -> Result<(), RegistryError> {
        let mut request = self
            .sm
            .client()
            .update_model_package()
            .model_package_arn(arn)
            .model_approval_status(status);
        if let Some(reason) = reason {
            request = request.approval_description(reason.chars().take(1000).collect::<String>());
        }
        self.sm
            .block_on(request.send())
            .map_err(|e| self.sm.error("UpdateModelPackage", arn, e))?;
        Ok(())
    }

    fn describe_arn(&self, arn: &str) -> Result<ModelVersion, RegistryError> {
        let out = self
            .sm
            .block_on(
                self.sm
                    .client()
                    .describe_model_package()
                    .model_package_name(arn)
                    .send(),
            )
            .map_err(|e| self.sm.error("DescribeModelPackage", arn, e))?;
        self.version_of(arn, &out)
    }

    fn version_of(
        &self,
        arn: &str,
        out: &DescribeModelPackageOutput,
    ) -> Result<ModelVersion, RegistryError> {
        let version = out
            .model_package_version()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| RegistryError::Invalid(format!("{arn} has no version number")))?;
        let status = out
            .model_approval_status()
            .and_then(|s| Status::parse(s.as_str()))
            .unwrap_or(Status::PendingManualApproval);
        let artifact = out
            .inference_specification()
            .and_then(|spec| spec.containers().first())
            .and_then(|c| c.model_data_url())
            .unwrap_or_default()
            .to_string();
        let metadata = out.customer_metadata_properties();
        let metrics: BTreeMap<String, String> = metadata
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let sha256 = super::sha256_from_key(&artifact).or_else(|| metrics.get("sha256").cloned());
        let created_at = time(out.creation_time());
        let mut history = vec![StatusChange {
            status: Status::PendingManualApproval,
            at: created_at.clone(),
            by: metrics
                .get("registered_by")
                .cloned()
                .unwrap_or_else(|| who(out.created_by())),
            reason: Some("registered".into()),
        }];
        if status != Status::PendingManualApproval {
            history.push(StatusChange {
                status,
                at: out
                    .last_modified_time()
                    .map_or_else(|| created_at.clone(), |t| time(Some(t))),
                by: who(out.last_modified_by()),
                reason: out.approval_description().map(str::to_string),
            });
        }
        Ok(ModelVersion {
            group: self.group.clone(),
            version,
            status,
            sha256,
            artifact,
            metrics,
            description: out.model_package_description().map(str::to_string),
            created_at,
            history,
            arn: Some(arn.to_string()),
        })
    }

    /// Every package of the group (ListModelPackages, all pages), optionally
    /// only those with `status`, in the order SageMaker sorts them.
    fn summaries(
        &self,
        status: Option<ModelApprovalStatus>,
        order: SortOrder,
        max: Option<usize>,
    ) -> Result<Vec<ModelPackageSummary>, RegistryError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .sm
                .block_on(
                    self.sm
                        .client()
                        .list_model_packages()
                        .model_package_group_name(&self.group)
                        .set_model_approval_status(status.clone())
                        .sort_by(ModelPackageSortBy::CreationTime)
                        .sort_order(order.clone())
                        .max_results(100)
                        .set_next_token(token.take())
                        .send(),
                )
                .map_err(|e| self.sm.error("ListModelPackages", &self.target(), e))?;
            out.extend(page.model_package_summary_list().iter().cloned());
            if max.is_some_and(|m| out.len() >= m) {
                out.truncate(max.unwrap_or(usize::MAX));
                return Ok(out);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    fn arn_of(&self, version: u64) -> Result<String, RegistryError> {
        self.summaries(None, SortOrder::Ascending, None)?
            .into_iter()
            .find(|s| {
                s.model_package_version()
                    .and_then(|v| u64::try_from(v).ok())
                    == Some(version)
            })
            .and_then(|s| s.model_package_arn().map(str::to_string))
            .ok_or_else(|| RegistryError::NoSuchVersion {
                registry: self.describe(),
                version,
            })
    }

    /// DescribeModelPackage of the package numbered `version`.
    pub fn get(&self, version: u64) -> Result<ModelVersion, RegistryError> {
        let arn = self.arn_of(version)?;
        self.describe_arn(&arn)
    }

    /// The group's versions from ListModelPackages, without describing each:
    /// sha256 and metrics are left out (see [`SageMakerRegistry::get`]).
    pub fn list(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        let mut versions: Vec<ModelVersion> = self
            .summaries(None, SortOrder::Ascending, None)?
            .iter()
            .filter_map(|s| {
                let version = s
                    .model_package_version()
                    .and_then(|v| u64::try_from(v).ok())?;
                let status = s
                    .model_approval_status()
                    .and_then(|st| Status::parse(st.as_str()))
                    .unwrap_or(Status::PendingManualApproval);
                let created_at = time(s.creation_time());
                Some(ModelVersion {
                    group: self.group.clone(),
                    version,
                    status,
                    sha256: None,
                    artifact: String::new(),
                    metrics: BTreeMap::new(),
                    description: s.model_package_description().map(str::to_string),
                    created_at: created_at.clone(),
                    history: vec![StatusChange {
                        status,
                        at: created_at,
                        by: String::new(),
                        reason: None,
                    }],
                    arn: s.model_package_arn().map(str::to_string),
                })
            })
            .collect();
        versions.sort_by_key(|v| v.version);
        Ok(versions)
    }

    /// The most recently created approved package, described; `None` if no
    /// package is approved.
    pub fn latest_approved(&self) -> Result<Option<ModelVersion>, RegistryError> {
        let latest = self.summaries(
            Some(ModelApprovalStatus::Approved),
            SortOrder::Descending,
            Some(1),
        )?;
        match latest.first().and_then(|s| s.model_package_arn()) {
            Some(arn) => Ok(Some(self.describe_arn(arn)?)),
            None => Ok(None),
        }
    }

    /// UpdateModelPackage to `status` with `reason` as its
    /// ApprovalDescription; SageMaker records who made the change.
    pub fn set_status(
        &self,
        version: u64,
        status: Status,
        reason: Option<&str>,
    ) -> Result<ModelVersion, RegistryError> {
        let current = self.get(version)?;
        if !super::check_transition(&self.describe(), &current, status)? {
            return Ok(current);
        }
        let arn = current.arn.clone().unwrap_or_default();
        let target = match status {
            Status::Approved => ModelApprovalStatus::Approved,
            Status::Rejected => ModelApprovalStatus::Rejected,
            Status::PendingManualApproval => ModelApprovalStatus::PendingManualApproval,
        };
        self.update(&arn, target, reason)?;
        self.describe_arn(&arn)
    }

    /// Downloads the artifact that `version`'s ModelDataUrl names and checks
    /// its bytes against the sha256 in the (content-addressed) key, and
    /// against the recorded one when SageMaker returned it.
    pub fn fetch(&self, version: &ModelVersion) -> Result<Vec<u8>, RegistryError> {
        let url = &version.artifact;
        let from_key = super::sha256_from_key(url).ok_or_else(|| {
            RegistryError::Invalid(format!(
                "version {}: ModelDataUrl {url:?} is not a content-addressed artifact \
                 (s3://.../artifacts/<sha256>.forest)",
                version.version
            ))
        })?;
        if let Some(recorded) = version.metrics.get("sha256") {
            if recorded != &from_key {
                return Err(RegistryError::Integrity {
                    url: url.clone(),
                    expected: recorded.clone(),
                    actual: from_key,
                });
            }
        }
        let (bucket, key) = url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| {
                RegistryError::Invalid(format!("ModelDataUrl {url:?} is not an s3:// URL"))
            })?;
        let lake = Lake::open(&format!("s3://{bucket}"), &self.s3)?;
        let bytes = lake.get(key)?;
        super::verify_sha256(url, &bytes, &from_key)?;
        Ok(bytes)
    }
}

/// SageMaker answers a missing group with a ValidationException saying so
/// (there is no ResourceNotFound for DescribeModelPackageGroup).
fn is_missing<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ValidationException")
        && e.message()
            .is_some_and(|m| m.contains("does not exist") || m.contains("not found"))
        || e.code() == Some("ResourceNotFound")
}

fn time(t: Option<&DateTime>) -> String {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
        .unwrap_or_default()
}

/// The IAM identity (or Studio user) SageMaker recorded.
fn who(user: Option<&UserContext>) -> String {
    user.and_then(|u| {
        u.iam_identity()
            .and_then(|i| i.arn())
            .or(u.user_profile_name())
            .map(str::to_string)
    })
    .unwrap_or_else(|| "unknown".into())
}
