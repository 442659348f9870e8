//! The signed messages of settlement (seed 001 drawing 19 and the account
//! inquiry of the investor client), with their canonical encodings, and the
//! canonical encoding of an exact decimal amount.

use rust_decimal::Decimal;

use crate::crypto::{Decode, Digest, Encode, Message, MsgKind, Reader, UserId, WireError, Writer};

use super::AccountId;

/// Largest decimal scale (digits after the point) on the wire.
pub const MAX_SCALE: u32 = 28;

/// Writes an exact decimal: `mantissa i128 (16 bytes LE) | scale u8`, in
/// normal form (no trailing zero digits after the point, no negative zero).
pub fn put_decimal(w: &mut Writer, d: Decimal) {
    let n = d.normalize();
    w.array(&n.mantissa().to_le_bytes());
    // `normalize` keeps the scale within 0..=28.
    w.u8(u8::try_from(n.scale()).unwrap_or(0));
}

/// Reads an exact decimal written by [`put_decimal`], refusing every
/// non-canonical form (trailing zeros, negative zero, scale above 28,
/// a mantissa beyond 96 bits).
pub fn get_decimal(r: &mut Reader<'_>) -> Result<Decimal, WireError> {
    let m = i128::from_le_bytes(r.array()?);
    let scale = u32::from(r.u8()?);
    if scale > MAX_SCALE {
        return Err(WireError::NonCanonical);
    }
    if m.unsigned_abs() >= (1u128 << 96) {
        return Err(WireError::NonCanonical);
    }
    if scale > 0 && m % 10 == 0 {
        return Err(WireError::NonCanonical);
    }
    Decimal::try_from_i128_with_scale(m, scale).map_err(|_| WireError::NonCanonical)
}

/// Phase 2-3: the exchange asks the settlement service to pay for one match
/// (drawing 19): `amount` moves from the buy order's reservation to the
/// seller's account, and `release` (price improvement) goes back to the
/// buyer's available balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementRequest {
    /// The exchange's user id (must equal the signer).
    pub exchange: UserId,
    /// Match number.
    pub match_number: u64,
    /// The buy order's reception number (its cash reservation).
    pub buy_order: u64,
    /// Amount paid (price x quantity), exact.
    pub amount: Decimal,
    /// Reserved cash no longer needed after this fill, exact.
    pub release: Decimal,
    /// Buyer's account.
    pub buyer_account: AccountId,
    /// Seller's account.
    pub seller_account: AccountId,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for SettlementRequest {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.exchange);
        w.u64(self.match_number);
        w.u64(self.buy_order);
        put_decimal(w, self.amount);
        put_decimal(w, self.release);
        w.u64(self.buyer_account);
        w.u64(self.seller_account);
        w.u64(self.seq);
    }
}
impl Decode for SettlementRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(SettlementRequest {
            exchange: r.u64()?,
            match_number: r.u64()?,
            buy_order: r.u64()?,
            amount: get_decimal(r)?,
            release: get_decimal(r)?,
            buyer_account: r.u64()?,
            seller_account: r.u64()?,
            seq: r.u64()?,
        })
    }
}
impl Message for SettlementRequest {
    const KIND: MsgKind = MsgKind::SettlementRequest;
}

/// An investor asks for the state of one of its accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInquiry {
    /// Requester's user id (must equal the signer and own the account).
    pub user_id: UserId,
    /// The account.
    pub account: AccountId,
    /// Signer's sequence number.
    pub seq: u64,
}

impl Encode for AccountInquiry {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.user_id);
        w.u64(self.account);
        w.u64(self.seq);
    }
}
impl Decode for AccountInquiry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(AccountInquiry {
            user_id: r.u64()?,
            account: r.u64()?,
            seq: r.u64()?,
        })
    }
}
impl Message for AccountInquiry {
    const KIND: MsgKind = MsgKind::AccountInquiry;
}

/// The settlement service's signed answer to an [`AccountInquiry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountAnswer {
    /// The account.
    pub account: AccountId,
    /// Its owner.
    pub owner: UserId,
    /// Available balance.
    pub available: Decimal,
    /// Reserved for open buy orders.
    pub reserved: Decimal,
    /// BLAKE3 of the inquiry's wire bytes.
    pub request_hash: Digest,
}

impl Encode for AccountAnswer {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.account);
        w.u64(self.owner);
        put_decimal(w, self.available);
        put_decimal(w, self.reserved);
        self.request_hash.encode(w);
    }
}
impl Decode for AccountAnswer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(AccountAnswer {
            account: r.u64()?,
            owner: r.u64()?,
            available: get_decimal(r)?,
            reserved: get_decimal(r)?,
            request_hash: Digest::decode(r)?,
        })
    }
}
impl Message for AccountAnswer {
    const KIND: MsgKind = MsgKind::AccountAnswer;
}
