//! The module's error type: hand-written, no panics, every refusal leaves the
//! service's state unchanged (the audit log still records the decision).

use core::fmt;

/// Why a call into [`super::OobService`] was refused.
///
/// The login and answer errors are deliberately coarse: [`Self::AuthenticationFailed`]
/// never says whether the user code, the PIN or the contractor's state was the
/// problem, and [`Self::AnswerRejected`] never says whether the request is
/// unknown, finished, expired or the answer wrong. The host learns the details
/// from the audit log and the hooks, never the party at the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OobError {
    /// Login refused: unknown user code, wrong PIN, disabled or locked-out
    /// contractor. Uniform on purpose.
    AuthenticationFailed,
    /// The session token is unknown, ended or expired.
    InvalidSession,
    /// The contractor is disabled (after a lockout or by the operator).
    ContractorDisabled,
    /// The amount exceeds the contractor's maximum.
    AboveMaximum,
    /// An answer that did not confirm or cancel anything: unknown or finished
    /// request, wrong code, wrong second code, wrong line, bad proof, expired.
    /// Uniform on purpose.
    AnswerRejected,
    /// The contractor already has the maximum number of pending requests.
    TooManyPending,
    /// Every callback line is busy.
    NoFreeCallbackLine,
    /// The method table asks for a biometric check but no verifier is
    /// registered with the service.
    MethodUnavailable,
    /// The host's random number generator produced output no working CSPRNG
    /// would (for example the same value again and again).
    RandomnessFailure,
    /// A contractor with this user code is already registered.
    DuplicateUserCode,
    /// No contractor with this id.
    UnknownContractor,
    /// A contractor specification is invalid.
    InvalidRecord(RecordError),
    /// The service configuration is invalid.
    InvalidConfig(ConfigError),
}

/// What is wrong with a contractor specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordError {
    /// The user code is empty or longer than 64 bytes.
    UserCode,
    /// The PIN is shorter than 4 or longer than 64 bytes.
    Pin,
    /// No second-channel device.
    NoDevice,
    /// A device address is empty or longer than 256 bytes.
    DeviceAddress,
    /// A device's seal key is not a valid, non-weak Ed25519 public key.
    SealKey,
    /// No second code with the normal purpose.
    NoNormalSecondCode,
    /// A second code is shorter than 4 or longer than 64 bytes.
    SecondCode,
    /// Two second codes are equal (their purpose would be ambiguous).
    DuplicateSecondCode,
    /// The method table's lower bounds are not strictly increasing.
    MethodTableOrder,
    /// The method table asks for a seal but no device holds a seal key.
    SealWithoutKey,
    /// A sequential delivery fallback or rolling window of zero.
    ZeroDuration,
}

/// What is wrong with an [`super::OobConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// Code length outside 6..=12 digits.
    CodeDigits,
    /// Argon2 parameters the argon2 crate refuses.
    Argon2Params,
    /// A limit, lifetime or count of zero.
    Zero,
    /// Duplicate callback line ids.
    DuplicateLine,
    /// More pending requests per contractor than the code space allows
    /// (two codes each must stay below 1% of the space).
    PendingLimit,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordError::UserCode => "user code must be 1..=64 bytes",
            RecordError::Pin => "PIN must be 4..=64 bytes",
            RecordError::NoDevice => "at least one second-channel device is required",
            RecordError::DeviceAddress => "device address must be 1..=256 bytes",
            RecordError::SealKey => "seal key is not a valid non-weak Ed25519 public key",
            RecordError::NoNormalSecondCode => "at least one normal second code is required",
            RecordError::SecondCode => "second code must be 4..=64 bytes",
            RecordError::DuplicateSecondCode => "second codes must be distinct",
            RecordError::MethodTableOrder => "method table bounds must be strictly increasing",
            RecordError::SealWithoutKey => "seal method needs a device with a seal key",
            RecordError::ZeroDuration => "durations must be positive",
        })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::CodeDigits => "confirmation codes must have 6..=12 digits",
            ConfigError::Argon2Params => "invalid argon2 parameters",
            ConfigError::Zero => "limits, lifetimes and counts must be positive",
            ConfigError::DuplicateLine => "callback line ids must be distinct",
            ConfigError::PendingLimit => "too many pending requests for the code space",
        })
    }
}

impl fmt::Display for OobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OobError::AuthenticationFailed => f.write_str("authentication failed"),
            OobError::InvalidSession => f.write_str("invalid session"),
            OobError::ContractorDisabled => f.write_str("contractor disabled"),
            OobError::AboveMaximum => f.write_str("amount above the contractor's maximum"),
            OobError::AnswerRejected => f.write_str("answer rejected"),
            OobError::TooManyPending => f.write_str("too many pending requests"),
            OobError::NoFreeCallbackLine => f.write_str("no free callback line"),
            OobError::MethodUnavailable => f.write_str("confirmation method unavailable"),
            OobError::RandomnessFailure => f.write_str("random number generator failure"),
            OobError::DuplicateUserCode => f.write_str("duplicate user code"),
            OobError::UnknownContractor => f.write_str("unknown contractor"),
            OobError::InvalidRecord(e) => write!(f, "invalid contractor record: {e}"),
            OobError::InvalidConfig(e) => write!(f, "invalid configuration: {e}"),
        }
    }
}

impl std::error::Error for OobError {}
impl std::error::Error for RecordError {}
impl std::error::Error for ConfigError {}
