//! Settlement: cash accounts with exact decimal balances, reservations for
//! buy orders, delivery versus payment per fill, and the signed account
//! inquiry (seed 001 drawing 19, DESIGN.md 1.5).
//!
//! A [`Ledger`] holds accounts (owner, available balance, reserved
//! balance) and one reservation per open buy order (keyed by the order's
//! reception number). Deposits and withdrawals move money in and out; a
//! reservation moves it from available to reserved; a signed
//! [`SettlementRequest`] from a trusted exchange pays one match out of the
//! buy order's reservation into the seller's account and releases the price
//! improvement; releases give reserved cash back.
//!
//! Architecture invariant: `settle` depends only on `types` and `crypto`.
//! Architecture invariant: every amount is an exact `rust_decimal::Decimal`;
//! no account balance or reservation is ever negative, and cash is
//! conserved: the sum of available and reserved balances equals deposits
//! less withdrawals, after every operation ([`Ledger::check_conservation`]).
//! Architecture invariant: a refused operation changes nothing.
#![forbid(unsafe_code)]

pub mod messages;

use core::fmt;
use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

pub use messages::{get_decimal, put_decimal, AccountAnswer, AccountInquiry, SettlementRequest};

use crate::crypto::{CryptoError, KeyPair, PublicKey, Signed, UserId};

/// A cash account number.
pub type AccountId = u64;

/// Why a settlement operation was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettleError {
    /// No such account.
    UnknownAccount,
    /// The account exists already.
    DuplicateAccount,
    /// The account is not the named owner's.
    NotOwner,
    /// Not enough available cash.
    InsufficientFunds,
    /// A negative (or zero where positive is required) amount.
    BadAmount,
    /// No reservation for this order.
    UnknownReservation,
    /// The reservation is smaller than the amount asked of it.
    ReservationTooSmall,
    /// The request names another account than the reservation's.
    AccountMismatch,
    /// The signer is not a trusted party for this message.
    UnknownSigner,
    /// The signature does not verify.
    Signature(CryptoError),
    /// The request's sequence number is not above the signer's last.
    Replay {
        /// Last accepted.
        last: u64,
        /// Presented.
        got: u64,
    },
    /// An amount does not fit a `Decimal`.
    Overflow,
}

impl fmt::Display for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettleError::UnknownAccount => f.write_str("unknown account"),
            SettleError::DuplicateAccount => f.write_str("account exists"),
            SettleError::NotOwner => f.write_str("account belongs to another party"),
            SettleError::InsufficientFunds => f.write_str("insufficient funds"),
            SettleError::BadAmount => f.write_str("bad amount"),
            SettleError::UnknownReservation => f.write_str("no reservation for this order"),
            SettleError::ReservationTooSmall => f.write_str("reservation too small"),
            SettleError::AccountMismatch => f.write_str("account does not match the reservation"),
            SettleError::UnknownSigner => f.write_str("untrusted signer"),
            SettleError::Signature(e) => write!(f, "{e}"),
            SettleError::Replay { last, got } => write!(f, "replayed request: seq {got} <= {last}"),
            SettleError::Overflow => f.write_str("amount overflow"),
        }
    }
}

impl std::error::Error for SettleError {}

/// One cash account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Owner's user id.
    pub owner: UserId,
    /// Available balance.
    pub available: Decimal,
    /// Reserved for open buy orders.
    pub reserved: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Reservation {
    account: AccountId,
    amount: Decimal,
}

/// One settled match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Match number.
    pub match_number: u64,
    /// Amount paid.
    pub amount: Decimal,
    /// Buyer's account.
    pub buyer_account: AccountId,
    /// Seller's account.
    pub seller_account: AccountId,
}

/// Totals for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Sum of deposits.
    pub deposited: Decimal,
    /// Sum of withdrawals.
    pub withdrawn: Decimal,
    /// Sum of settled amounts.
    pub settled: Decimal,
    /// Number of settlements.
    pub settlements: u64,
    /// Sum of released reservations (cancels, expiry, price improvement).
    pub released: Decimal,
}

/// The settlement service's cash ledger.
#[derive(Debug)]
pub struct Ledger {
    user_id: UserId,
    key: KeyPair,
    accounts: BTreeMap<AccountId, Account>,
    reservations: rustc_hash::FxHashMap<u64, Reservation>,
    exchanges: HashMap<UserId, PublicKey>,
    investors: HashMap<UserId, PublicKey>,
    last_seq: rustc_hash::FxHashMap<UserId, u64>,
    settlements: Vec<Settlement>,
    totals: LedgerTotals,
}

fn positive(a: Decimal) -> Result<(), SettleError> {
    if a <= Decimal::ZERO {
        return Err(SettleError::BadAmount);
    }
    Ok(())
}

impl Ledger {
    /// An empty ledger signing its answers as `user_id` with `key`.
    #[must_use]
    pub fn new(user_id: UserId, key: KeyPair) -> Self {
        Self {
            user_id,
            key,
            accounts: BTreeMap::new(),
            reservations: rustc_hash::FxHashMap::default(),
            exchanges: HashMap::new(),
            investors: HashMap::new(),
            last_seq: rustc_hash::FxHashMap::default(),
            settlements: Vec::new(),
            totals: LedgerTotals::default(),
        }
    }

    /// The settlement service's user id.
    #[must_use]
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
    /// The settlement service's public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    /// Trusts `exchange` (whose attestation the host has checked) to send
    /// settlement requests signed with `key`.
    pub fn trust_exchange(&mut self, exchange: UserId, key: PublicKey) {
        self.exchanges.insert(exchange, key);
    }
    /// Registers an investor's key (from its checked attestation) for
    /// account inquiries.
    pub fn register_investor(&mut self, user: UserId, key: PublicKey) {
        self.investors.insert(user, key);
    }

    /// Opens an empty account for `owner`.
    pub fn open_account(&mut self, id: AccountId, owner: UserId) -> Result<(), SettleError> {
        if self.accounts.contains_key(&id) {
            return Err(SettleError::DuplicateAccount);
        }
        self.accounts.insert(
            id,
            Account {
                owner,
                available: Decimal::ZERO,
                reserved: Decimal::ZERO,
            },
        );
        Ok(())
    }

    /// The account, if it exists.
    #[must_use]
    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }
    /// Every account, by number.
    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, &Account)> {
        self.accounts.iter()
    }
    /// The reservation of an order, if any.
    #[must_use]
    pub fn reserved_for(&self, order: u64) -> Option<Decimal> {
        self.reservations.get(&order).map(|r| r.amount)
    }
    /// Number of open reservations.
    #[must_use]
    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }
    /// Every settled match, in order.
    #[must_use]
    pub fn settlements(&self) -> &[Settlement] {
        &self.settlements
    }
    /// Totals.
    #[must_use]
    pub fn totals(&self) -> &LedgerTotals {
        &self.totals
    }

    fn acct(&mut self, id: AccountId) -> Result<&mut Account, SettleError> {
        self.accounts
            .get_mut(&id)
            .ok_or(SettleError::UnknownAccount)
    }

    /// Pays `amount` (positive) into an account.
    pub fn deposit(&mut self, id: AccountId, amount: Decimal) -> Result<(), SettleError> {
        positive(amount)?;
        let total = self
            .totals
            .deposited
            .checked_add(amount)
            .ok_or(SettleError::Overflow)?;
        let a = self.acct(id)?;
        a.available = a
            .available
            .checked_add(amount)
            .ok_or(SettleError::Overflow)?;
        self.totals.deposited = total;
        Ok(())
    }

    /// Pays `amount` (positive) out of an account's available balance.
    pub fn withdraw(&mut self, id: AccountId, amount: Decimal) -> Result<(), SettleError> {
        positive(amount)?;
        let total = self
            .totals
            .withdrawn
            .checked_add(amount)
            .ok_or(SettleError::Overflow)?;
        let a = self.acct(id)?;
        if a.available < amount {
            return Err(SettleError::InsufficientFunds);
        }
        a.available -= amount;
        self.totals.withdrawn = total;
        Ok(())
    }

    /// Reserves `amount` of `owner`'s account `account` for `order` (adds to
    /// an existing reservation of the same order and account).
    pub fn reserve(
        &mut self,
        order: u64,
        account: AccountId,
        owner: UserId,
        amount: Decimal,
    ) -> Result<(), SettleError> {
        if amount < Decimal::ZERO {
            return Err(SettleError::BadAmount);
        }
        let existing = self.reservations.get(&order).map(|r| (r.account, r.amount));
        if let Some((acct, _)) = existing {
            if acct != account {
                return Err(SettleError::AccountMismatch);
            }
        }
        let a = self.acct(account)?;
        if a.owner != owner {
            return Err(SettleError::NotOwner);
        }
        if a.available < amount {
            return Err(SettleError::InsufficientFunds);
        }
        let new_res = a
            .reserved
            .checked_add(amount)
            .ok_or(SettleError::Overflow)?;
        a.available -= amount;
        a.reserved = new_res;
        let r = self.reservations.entry(order).or_insert(Reservation {
            account,
            amount: Decimal::ZERO,
        });
        r.amount += amount;
        Ok(())
    }

    /// Releases `amount` of `order`'s reservation back to available; a
    /// reservation released to zero is removed.
    pub fn release(&mut self, order: u64, amount: Decimal) -> Result<(), SettleError> {
        if amount < Decimal::ZERO {
            return Err(SettleError::BadAmount);
        }
        let r = self
            .reservations
            .get(&order)
            .ok_or(SettleError::UnknownReservation)?;
        if r.amount < amount {
            return Err(SettleError::ReservationTooSmall);
        }
        let account = r.account;
        let a = self.acct(account)?;
        a.reserved -= amount;
        a.available += amount;
        self.totals.released += amount;
        self.shrink(order, amount);
        Ok(())
    }

    fn shrink(&mut self, order: u64, amount: Decimal) {
        if let Some(r) = self.reservations.get_mut(&order) {
            r.amount -= amount;
            if r.amount.is_zero() {
                self.reservations.remove(&order);
            }
        }
    }

    /// Delivery versus payment for one match, on a request signed by a
    /// trusted exchange: `amount` leaves the buy order's reservation for the
    /// seller's account, `release` returns to the buyer's available balance.
    pub fn settle(&mut self, req: &Signed<SettlementRequest>) -> Result<&Settlement, SettleError> {
        self.settle_checked(req, true)
    }

    /// [`Ledger::settle`] for an exchange in the same process whose request
    /// comes straight from its matching thread, its signature still pending
    /// (a runtime's signing stage signs it afterwards). Every check but the
    /// signature: the exchange must be a trusted one, the sequence number
    /// must advance.
    pub fn settle_in_process(
        &mut self,
        req: &Signed<SettlementRequest>,
    ) -> Result<&Settlement, SettleError> {
        self.settle_checked(req, false)
    }

    fn settle_checked(
        &mut self,
        req: &Signed<SettlementRequest>,
        verify: bool,
    ) -> Result<&Settlement, SettleError> {
        let b = &req.body;
        if b.exchange != req.signer {
            return Err(SettleError::UnknownSigner);
        }
        let key = self
            .exchanges
            .get(&req.signer)
            .ok_or(SettleError::UnknownSigner)?;
        if verify {
            req.verify(key).map_err(SettleError::Signature)?;
        }
        self.check_seq(req.signer, b.seq)?;
        if b.amount < Decimal::ZERO || b.release < Decimal::ZERO {
            return Err(SettleError::BadAmount);
        }
        let need = b
            .amount
            .checked_add(b.release)
            .ok_or(SettleError::Overflow)?;
        let r = self
            .reservations
            .get(&b.buy_order)
            .ok_or(SettleError::UnknownReservation)?;
        if r.account != b.buyer_account {
            return Err(SettleError::AccountMismatch);
        }
        if r.amount < need {
            return Err(SettleError::ReservationTooSmall);
        }
        let seller_avail = self
            .accounts
            .get(&b.seller_account)
            .ok_or(SettleError::UnknownAccount)?
            .available
            .checked_add(b.amount)
            .ok_or(SettleError::Overflow)?;
        let settled = self
            .totals
            .settled
            .checked_add(b.amount)
            .ok_or(SettleError::Overflow)?;
        // Every check passed: apply.
        let buyer = self.acct(b.buyer_account)?;
        buyer.reserved -= need;
        buyer.available += b.release;
        self.acct(b.seller_account)?.available = seller_avail;
        self.shrink(b.buy_order, need);
        self.totals.settled = settled;
        self.totals.released += b.release;
        self.totals.settlements += 1;
        self.last_seq.insert(req.signer, b.seq);
        self.settlements.push(Settlement {
            match_number: b.match_number,
            amount: b.amount,
            buyer_account: b.buyer_account,
            seller_account: b.seller_account,
        });
        self.settlements.last().ok_or(SettleError::UnknownAccount)
    }

    fn check_seq(&self, signer: UserId, seq: u64) -> Result<(), SettleError> {
        match self.last_seq.get(&signer) {
            Some(&last) if seq <= last => Err(SettleError::Replay { last, got: seq }),
            _ => Ok(()),
        }
    }

    /// Answers a signed account inquiry from the account's owner.
    pub fn inquiry(
        &mut self,
        req: &Signed<AccountInquiry>,
    ) -> Result<Signed<AccountAnswer>, SettleError> {
        let b = &req.body;
        if b.user_id != req.signer {
            return Err(SettleError::UnknownSigner);
        }
        let key = self
            .investors
            .get(&req.signer)
            .ok_or(SettleError::UnknownSigner)?;
        req.verify(key).map_err(SettleError::Signature)?;
        self.check_seq(req.signer, b.seq)?;
        let a = self
            .accounts
            .get(&b.account)
            .ok_or(SettleError::UnknownAccount)?;
        if a.owner != b.user_id {
            return Err(SettleError::NotOwner);
        }
        let answer = AccountAnswer {
            account: b.account,
            owner: a.owner,
            available: a.available,
            reserved: a.reserved,
            request_hash: req.digest(),
        };
        self.last_seq.insert(req.signer, b.seq);
        Ok(Signed::sign(answer, self.user_id, &self.key))
    }

    /// Checks the ledger's invariants: no negative balance or reservation,
    /// each account's reserved balance equals the sum of its reservations,
    /// and available + reserved = deposits - withdrawals.
    pub fn check_conservation(&self) -> Result<(), String> {
        let mut per_account: HashMap<AccountId, Decimal> = HashMap::new();
        for (o, r) in &self.reservations {
            if r.amount <= Decimal::ZERO {
                return Err(format!("reservation of order {o} is {}", r.amount));
            }
            *per_account.entry(r.account).or_default() += r.amount;
        }
        let mut total = Decimal::ZERO;
        for (id, a) in &self.accounts {
            if a.available < Decimal::ZERO || a.reserved < Decimal::ZERO {
                return Err(format!("account {id} negative: {a:?}"));
            }
            let res = per_account.get(id).copied().unwrap_or_default();
            if res != a.reserved {
                return Err(format!(
                    "account {id}: reserved {} but reservations sum to {res}",
                    a.reserved
                ));
            }
            total += a.available + a.reserved;
        }
        let expect = self.totals.deposited - self.totals.withdrawn;
        if total != expect {
            return Err(format!(
                "cash not conserved: balances {total}, deposits - withdrawals {expect}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Reader, Writer};
    use core::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn ledger() -> (Ledger, KeyPair) {
        let mut l = Ledger::new(9, KeyPair::from_seed(&[9; 32]));
        let ex = KeyPair::from_seed(&[3; 32]);
        l.trust_exchange(3, ex.public());
        l.open_account(1, 100).unwrap();
        l.open_account(2, 101).unwrap();
        (l, ex)
    }

    fn req(
        ex: &KeyPair,
        seq: u64,
        order: u64,
        amount: &str,
        release: &str,
    ) -> Signed<SettlementRequest> {
        Signed::sign(
            SettlementRequest {
                exchange: 3,
                match_number: seq,
                buy_order: order,
                amount: d(amount),
                release: d(release),
                buyer_account: 1,
                seller_account: 2,
                seq,
            },
            3,
            ex,
        )
    }

    #[test]
    fn deposit_reserve_settle_release_exact() {
        let (mut l, ex) = ledger();
        l.deposit(1, d("1000.10")).unwrap();
        assert_eq!(
            l.withdraw(1, d("2000")),
            Err(SettleError::InsufficientFunds)
        );
        assert_eq!(l.reserve(7, 1, 101, d("1")), Err(SettleError::NotOwner));
        l.reserve(7, 1, 100, d("300.30")).unwrap();
        assert_eq!(
            l.reserve(8, 1, 100, d("700")),
            Err(SettleError::InsufficientFunds)
        );
        l.check_conservation().unwrap();
        l.settle(&req(&ex, 1, 7, "100.10", "0.10")).unwrap();
        assert_eq!(l.account(2).unwrap().available, d("100.10"));
        assert_eq!(l.reserved_for(7), Some(d("200.10")));
        // Replay refused, too-large refused.
        assert!(matches!(
            l.settle(&req(&ex, 1, 7, "1", "0")),
            Err(SettleError::Replay { .. })
        ));
        assert_eq!(
            l.settle(&req(&ex, 2, 7, "200", "0.11")).map(|_| ()),
            Err(SettleError::ReservationTooSmall)
        );
        l.release(7, d("200.10")).unwrap();
        assert_eq!(l.reserved_for(7), None);
        assert_eq!(l.account(1).unwrap().available, d("900.00"));
        l.check_conservation().unwrap();
        l.withdraw(2, d("100.1")).unwrap();
        l.check_conservation().unwrap();
        // Forged: signed by another key.
        let other = KeyPair::from_seed(&[4; 32]);
        l.reserve(8, 1, 100, d("1")).unwrap();
        assert!(matches!(
            l.settle(&req(&other, 5, 8, "1", "0")),
            Err(SettleError::Signature(_))
        ));
        l.check_conservation().unwrap();
    }

    #[test]
    fn inquiry_signed_and_owner_only() {
        let (mut l, _) = ledger();
        let alice = KeyPair::from_seed(&[100; 32]);
        l.register_investor(100, alice.public());
        l.deposit(1, d("5")).unwrap();
        let q = Signed::sign(
            AccountInquiry {
                user_id: 100,
                account: 1,
                seq: 1,
            },
            100,
            &alice,
        );
        let a = l.inquiry(&q).unwrap();
        assert!(a.verify(&l.public_key()).is_ok());
        assert_eq!(a.body.available, d("5"));
        assert_eq!(a.body.request_hash, q.digest());
        assert!(matches!(l.inquiry(&q), Err(SettleError::Replay { .. })));
        let q = Signed::sign(
            AccountInquiry {
                user_id: 100,
                account: 2,
                seq: 2,
            },
            100,
            &alice,
        );
        assert_eq!(l.inquiry(&q), Err(SettleError::NotOwner));
    }

    #[test]
    fn decimal_encoding_is_canonical() {
        for s in ["0", "1", "-1", "0.01", "123456789.123456789", "-0.5"] {
            let mut w = Writer::new();
            put_decimal(&mut w, d(s));
            let b = w.into_bytes();
            let mut r = Reader::new(&b);
            assert_eq!(get_decimal(&mut r), Ok(d(s)));
            r.finish().unwrap();
        }
        // 1.10 encodes as 1.1; a hand-made trailing zero is refused.
        let mut w = Writer::new();
        w.array(&110i128.to_le_bytes());
        w.u8(2);
        assert_eq!(
            get_decimal(&mut Reader::new(w.as_bytes())),
            Err(crate::crypto::WireError::NonCanonical)
        );
        let mut w = Writer::new();
        w.array(&1i128.to_le_bytes());
        w.u8(29);
        assert!(get_decimal(&mut Reader::new(w.as_bytes())).is_err());
    }
}
