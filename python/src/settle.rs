//! Settlement (`kabuken::settle`): the [`Ledger`] of cash accounts with
//! exact decimal balances (Python `decimal.Decimal`), reservations,
//! delivery versus payment and the signed account inquiry.

use crate::convert::{decimal_arg, decimal_out};
use crate::crypto::{signed_arg, KeyPair, Message, PublicKey};
use crate::errors::error;
use kabuken::settle as ks;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `SettlementError(message, kind)`.
pub fn settle_error(py: Python<'_>, e: &ks::SettleError) -> PyErr {
    let kind = match e {
        ks::SettleError::UnknownAccount => "unknown_account",
        ks::SettleError::DuplicateAccount => "duplicate_account",
        ks::SettleError::NotOwner => "not_owner",
        ks::SettleError::InsufficientFunds => "insufficient_funds",
        ks::SettleError::BadAmount => "bad_amount",
        ks::SettleError::UnknownReservation => "unknown_reservation",
        ks::SettleError::ReservationTooSmall => "reservation_too_small",
        ks::SettleError::AccountMismatch => "account_mismatch",
        ks::SettleError::UnknownSigner => "unknown_signer",
        ks::SettleError::Signature(_) => "signature",
        ks::SettleError::Replay { .. } => "replay",
        ks::SettleError::Overflow => "overflow",
    };
    error(py, "SettlementError", (e.to_string(), kind))
}

/// One cash account: owner and balances.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Account {
    account: u64,
    owner: u64,
    available: Py<PyAny>,
    reserved: Py<PyAny>,
}

impl Account {
    fn new(py: Python<'_>, account: u64, a: &ks::Account) -> PyResult<Self> {
        Ok(Account {
            account,
            owner: a.owner,
            available: decimal_out(py, a.available)?.unbind(),
            reserved: decimal_out(py, a.reserved)?.unbind(),
        })
    }
}

#[pymethods]
impl Account {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Account(account={}, owner={}, available={}, reserved={})",
            self.account,
            self.owner,
            self.available.bind(py),
            self.reserved.bind(py)
        )
    }
}

/// One settled match.
#[pyclass(module = "kabuken._native", frozen, get_all)]
pub struct Settlement {
    match_number: u64,
    amount: Py<PyAny>,
    buyer_account: u64,
    seller_account: u64,
}

impl Settlement {
    fn new(py: Python<'_>, s: &ks::Settlement) -> PyResult<Self> {
        Ok(Settlement {
            match_number: s.match_number,
            amount: decimal_out(py, s.amount)?.unbind(),
            buyer_account: s.buyer_account,
            seller_account: s.seller_account,
        })
    }
}

#[pymethods]
impl Settlement {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Settlement(match_number={}, amount={}, buyer_account={}, seller_account={})",
            self.match_number,
            self.amount.bind(py),
            self.buyer_account,
            self.seller_account
        )
    }
}

/// The settlement service's cash ledger.
#[pyclass(module = "kabuken._native")]
pub struct Ledger {
    pub inner: ks::Ledger,
}

#[pymethods]
impl Ledger {
    /// An empty ledger signing its answers as `user_id` with `key`.
    #[new]
    fn new(user_id: u64, key: &KeyPair) -> Self {
        Ledger {
            inner: ks::Ledger::new(user_id, key.engine()),
        }
    }
    #[getter]
    fn user_id(&self) -> u64 {
        self.inner.user_id()
    }
    #[getter]
    fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public_key(),
        }
    }
    /// Trusts `exchange` to send settlement requests signed with `public_key`.
    fn trust_exchange(&mut self, exchange: u64, public_key: &PublicKey) {
        self.inner.trust_exchange(exchange, public_key.inner);
    }
    /// Registers an investor's key for account inquiries.
    fn register_investor(&mut self, user_id: u64, public_key: &PublicKey) {
        self.inner.register_investor(user_id, public_key.inner);
    }
    /// Opens an empty account; raises `SettlementError` if it exists.
    fn open_account(&mut self, py: Python<'_>, account: u64, owner: u64) -> PyResult<()> {
        self.inner
            .open_account(account, owner)
            .map_err(|e| settle_error(py, &e))
    }
    /// Pays a positive amount (int, str or Decimal) into an account.
    fn deposit(&mut self, py: Python<'_>, account: u64, amount: &Bound<'_, PyAny>) -> PyResult<()> {
        let amount = decimal_arg(amount)?;
        self.inner
            .deposit(account, amount)
            .map_err(|e| settle_error(py, &e))
    }
    /// Pays a positive amount out of an account's available balance.
    fn withdraw(
        &mut self,
        py: Python<'_>,
        account: u64,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let amount = decimal_arg(amount)?;
        self.inner
            .withdraw(account, amount)
            .map_err(|e| settle_error(py, &e))
    }
    /// Reserves cash of `owner`'s `account` for buy order `order`.
    fn reserve(
        &mut self,
        py: Python<'_>,
        order: u64,
        account: u64,
        owner: u64,
        amount: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let amount = decimal_arg(amount)?;
        self.inner
            .reserve(order, account, owner, amount)
            .map_err(|e| settle_error(py, &e))
    }
    /// Releases part of an order's reservation back to available.
    fn release(&mut self, py: Python<'_>, order: u64, amount: &Bound<'_, PyAny>) -> PyResult<()> {
        let amount = decimal_arg(amount)?;
        self.inner
            .release(order, amount)
            .map_err(|e| settle_error(py, &e))
    }
    /// The account, or None.
    fn account(&self, py: Python<'_>, account: u64) -> PyResult<Option<Account>> {
        self.inner
            .account(account)
            .map(|a| Account::new(py, account, a))
            .transpose()
    }
    /// Every account by number.
    fn accounts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (id, a) in self.inner.accounts() {
            d.set_item(*id, Account::new(py, *id, a)?)?;
        }
        Ok(d)
    }
    /// The cash reserved for an order, or None.
    fn reserved_for<'py>(
        &self,
        py: Python<'py>,
        order: u64,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .reserved_for(order)
            .map(|d| decimal_out(py, d))
            .transpose()
    }
    /// Number of open reservations.
    #[getter]
    fn reservation_count(&self) -> usize {
        self.inner.reservation_count()
    }
    /// Delivery versus payment on an exchange's signed settlement request.
    fn settle(&mut self, py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<Settlement> {
        let req = signed_arg::<ks::SettlementRequest>(request)?;
        let ledger = &mut self.inner;
        let done = py.detach(|| ledger.settle(&req).cloned());
        Settlement::new(py, &done.map_err(|e| settle_error(py, &e))?)
    }
    /// Answers an investor's signed account inquiry (signed answer).
    fn inquiry(&mut self, py: Python<'_>, request: &Bound<'_, PyAny>) -> PyResult<Message> {
        let req = signed_arg::<ks::AccountInquiry>(request)?;
        let ledger = &mut self.inner;
        let answer = py
            .detach(|| ledger.inquiry(&req))
            .map_err(|e| settle_error(py, &e))?;
        Message::of(py, &answer)
    }
    /// Every settled match, in order.
    fn settlements(&self, py: Python<'_>) -> PyResult<Vec<Settlement>> {
        self.inner
            .settlements()
            .iter()
            .map(|s| Settlement::new(py, s))
            .collect()
    }
    /// Totals: deposited, withdrawn, settled, released (Decimal) and the
    /// number of settlements.
    fn totals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let t = self.inner.totals();
        let d = PyDict::new(py);
        d.set_item("deposited", decimal_out(py, t.deposited)?)?;
        d.set_item("withdrawn", decimal_out(py, t.withdrawn)?)?;
        d.set_item("settled", decimal_out(py, t.settled)?)?;
        d.set_item("released", decimal_out(py, t.released)?)?;
        d.set_item("settlements", t.settlements)?;
        Ok(d)
    }
    /// Checks that cash is conserved; raises `SettlementError` (kind
    /// ``"conservation"``) describing the violation.
    fn check_conservation(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .check_conservation()
            .map_err(|m| error(py, "SettlementError", (m, "conservation")))
    }
    fn __repr__(&self) -> String {
        format!("Ledger(user_id={})", self.inner.user_id())
    }
}
