//! [`Ec2Error`]: a failed EC2 call with its name, AWS's code and message, and
//! a hint for the common failures (the hint table lives here too).

use std::fmt;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// A failed EC2 call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    /// The API call, e.g. `RunInstances`.
    pub call: &'static str,
    /// AWS's error code, e.g. `UnauthorizedOperation`; `None` when the
    /// request never got an answer (no credentials, no network, timeout).
    pub code: Option<String>,
    /// AWS's message, or the cause chain of a local failure.
    pub message: String,
    /// What to do about it, for the common cases.
    pub hint: Option<String>,
}

impl fmt::Display for Ec2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EC2 {} failed: ", self.call)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Ec2Error {}

impl Ec2Error {
    /// Builds the error for `call`, adding the hint for its code.
    pub fn new(call: &'static str, code: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let hint = hint(call, code, &message);
        Ec2Error {
            call,
            code: code.map(str::to_owned),
            message,
            hint,
        }
    }

    /// The one conversion from an SDK error: AWS's code and message when it
    /// answered, else the cause chain on one line (no credentials, no network).
    pub fn from_sdk<E, R>(call: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_owned);
        let message = match (&code, err.message()) {
            (Some(_), Some(m)) => m.to_owned(),
            _ => chain(&err),
        };
        Ec2Error::new(call, code.as_deref(), message)
    }

    /// The AWS error code, or "" when there is none.
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    /// Whether EC2 says the resource does not exist (yet): `*.NotFound`.
    pub fn is_not_found(&self) -> bool {
        self.code().ends_with(".NotFound")
    }

    /// Whether this is the answer to a `DryRun` call that would have succeeded.
    pub fn is_dry_run_ok(&self) -> bool {
        self.code() == "DryRunOperation"
    }

    /// Whether the caller lacks the IAM permission.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.code(), "UnauthorizedOperation" | "AccessDenied")
    }
}

/// The hint for the common failures.
fn hint(call: &str, code: Option<&str>, message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let text = match code {
        None if lower.contains("credential") => {
            "no AWS credentials were found: run `aws configure`, set AWS_PROFILE or \
             AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `aws sso login`"
                .to_owned()
        }
        None if lower.contains("dispatch") || lower.contains("connect") || lower.contains("timeout") => {
            "the EC2 endpoint could not be reached: check the network, --region and AWS_ENDPOINT_URL"
                .to_owned()
        }
        Some("UnauthorizedOperation" | "AccessDenied") => format!(
            "the IAM identity is not allowed ec2:{call}; attach the policy in README.md, section 'IAM permissions'"
        ),
        Some("AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch") => {
            "the credentials were refused: check the access key, or renew the SSO session with \
             `aws sso login`"
                .to_owned()
        }
        Some("ExpiredToken" | "RequestExpired") => {
            "the credentials or request expired: renew the session (`aws sso login`) and check \
             the clock"
                .to_owned()
        }
        Some("AddressLimitExceeded") => {
            "the region's Elastic IP quota (5 by default) is used up: release addresses you no \
             longer need (`aws ec2 describe-addresses`) or request a quota increase"
                .to_owned()
        }
        Some("InvalidPermission.Malformed") => {
            "a CIDR was refused: pass --ssh-cidr/--app-cidr as a.b.c.d/n".to_owned()
        }
        Some("InvalidParameterValue") if lower.contains("cidr") => {
            "a CIDR was refused: pass --ssh-cidr/--app-cidr as a.b.c.d/n".to_owned()
        }
        Some("InvalidParameterValue") if lower.contains("instance type") || lower.contains("instancetype") => {
            "check that --instance-type exists in this region".to_owned()
        }
        Some("InvalidKeyPair.Duplicate") => {
            "a key pair with the stack's name exists but is not tagged for this stack: delete \
             it or choose another --name"
                .to_owned()
        }
        Some("InvalidGroup.Duplicate") => {
            "a security group with the stack's name exists but is not tagged for this stack: \
             delete it or choose another --name"
                .to_owned()
        }
        Some("InvalidAMIID.NotFound" | "InvalidAMIID.Malformed" | "InvalidAMIID.Unavailable") => {
            "the image does not exist in this region: check --ami and --region".to_owned()
        }
        Some("VcpuLimitExceeded" | "InstanceLimitExceeded") => {
            "the account's instance quota is used up in this region: terminate an instance or \
             request a quota increase"
                .to_owned()
        }
        Some("OptInRequired") => "the account or region is not enabled for EC2 yet".to_owned(),
        Some("DependencyViolation") => {
            "another resource still uses it; try again once instances have terminated".to_owned()
        }
        _ => return None,
    };
    Some(text)
}

/// Names the call an SDK result came from: the one way every wrapper method
/// turns an SDK error into an [`Ec2Error`].
pub(crate) trait Sent<T> {
    /// `Ok` as is; an error becomes an [`Ec2Error`] for `call`.
    fn named(self, call: &'static str) -> Result<T, Ec2Error>;
}

impl<T, E, R> Sent<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    fn named(self, call: &'static str) -> Result<T, Ec2Error> {
        self.map_err(|e| Ec2Error::from_sdk(call, e))
    }
}

/// An error and its sources on one line, each message once (the SDK's own
/// rendering appends Debug output, too long for a terminal).
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// A waiter's failure as an [`Ec2Error`] on DescribeInstances.
pub(crate) fn waiter_error(what: &str, err: impl std::error::Error + 'static) -> Ec2Error {
    Ec2Error::new(
        "DescribeInstances",
        None,
        format!("{what}: {}", chain(&err)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_call_the_code_and_a_hint() {
        let e = Ec2Error::new(
            "AllocateAddress",
            Some("AddressLimitExceeded"),
            "The maximum number of addresses has been reached.",
        );
        let text = e.to_string();
        assert!(text.starts_with("EC2 AllocateAddress failed: AddressLimitExceeded: The maximum"));
        assert!(text.contains("quota"), "{text}");
        let e = Ec2Error::new(
            "RunInstances",
            Some("UnauthorizedOperation"),
            "You are not authorized",
        );
        assert!(e.to_string().contains("ec2:RunInstances"), "{e}");
        let e = Ec2Error::new(
            "DescribeKeyPairs",
            None,
            "failed to construct request: no credentials in the chain",
        );
        assert!(e.to_string().contains("aws configure"), "{e}");
    }
}
