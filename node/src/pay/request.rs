//! Payment requests: a shop's till shows one as a QR code
//! (`pay request`), a customer scans and pays it (`pay scan`), once. The
//! request is signed by the payee's device and names its mint; the payer
//! records it paid before paying (so a second scan is refused here), and
//! the payee claims only the first payment of it (a second one is left
//! unclaimed and goes back to its payer at the lock time).

use serde::{Deserialize, Serialize};
use weft_protocol::pay::{format_amount, PayRequest, Purpose};

use super::transfer::Outgoing;
use super::{id_text, Pay, PayServiceError, SendResult, REQUEST_SECS};
use crate::store::pay::{RequestRecord, MAIN};

/// `pay request`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestView {
    /// Request id.
    pub id: String,
    /// The request as text (base58).
    pub request: String,
    /// As a `weft://pay/…` link.
    pub link: String,
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Unix seconds it is valid until.
    pub expires_at: u64,
    /// Paid yet.
    pub paid: bool,
}

/// What a scanned request asks, shown before paying.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestShown {
    /// Request id.
    pub id: String,
    /// Who is paid.
    pub payee: String,
    /// Its name.
    pub name: String,
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Note.
    pub note: String,
    /// The mint.
    pub mint: String,
    /// Paid already (by us).
    pub paid: bool,
    /// The payment, when it was made now.
    pub payment: Option<SendResult>,
}

impl Pay {
    /// `pay request AMOUNT CURRENCY [--note] [--mint]`.
    pub async fn request(
        &self,
        amount: &str,
        currency: &str,
        note: &str,
        mint: Option<&str>,
        valid_secs: Option<u64>,
    ) -> Result<RequestView, PayServiceError> {
        let (amount, currency) = super::checked_sum(amount, currency, note)?;
        let mint = self.pick_mint(mint, &currency)?;
        let name = self.name_of(&self.me());
        let r = PayRequest::new(
            &self.inner.ctx.identity.key,
            self.me(),
            &name,
            mint,
            &currency,
            amount,
            note,
            weft_protocol::unix_now() + valid_secs.unwrap_or(REQUEST_SECS),
        )?;
        self.store().put_pay_request(&RequestRecord {
            request: r.clone(),
            own: true,
            paid: None,
        })?;
        self.store().flush_async().await?;
        self.request_view(&r, false)
    }

    fn request_view(&self, r: &PayRequest, paid: bool) -> Result<RequestView, PayServiceError> {
        let link = r.to_link()?;
        Ok(RequestView {
            id: id_text(&r.id),
            request: link
                .strip_prefix(weft_protocol::pay::REQUEST_LINK)
                .unwrap_or(&link)
                .to_string(),
            link,
            amount: format_amount(r.amount),
            currency: r.currency.clone(),
            expires_at: r.expires_at,
            paid,
        })
    }

    /// `pay scan <request>`: what it asks (`pay == false`), or pays it.
    pub async fn scan(
        &self,
        text: &str,
        pay: bool,
        coupon: Option<&str>,
    ) -> Result<RequestShown, PayServiceError> {
        let r: PayRequest = text.parse()?;
        r.verify(weft_protocol::unix_now())?;
        // Signed by the payee, or by a device on the payee's list we hold.
        if r.signer != r.payee && !self.inner.chat.endpoints_of(&r.payee).contains(&r.signer) {
            return Err(PayServiceError::ForgedRequest);
        }
        if r.payee == self.me() {
            return Err(PayServiceError::OwnRequest);
        }
        let paid = self
            .store()
            .pay_request(&r.id)?
            .is_some_and(|x| x.paid.is_some());
        let mut shown = RequestShown {
            id: id_text(&r.id),
            payee: r.payee.to_string(),
            name: r.name.clone(),
            amount: format_amount(r.amount),
            currency: r.currency.clone(),
            note: r.note.clone(),
            mint: r.mint.to_string(),
            paid,
            payment: None,
        };
        if !pay {
            return Ok(shown);
        }
        // Once: recorded paid before the money moves; unrecorded again if
        // it could not be made.
        let now = weft_protocol::unix_now_ms();
        if !self.store().mark_request_paid(&r, false, r.payee, now)? {
            return Err(PayServiceError::AlreadyPaid);
        }
        self.store().flush_async().await?;
        let out = Outgoing {
            to: r.payee,
            amount: r.amount,
            currency: &r.currency,
            note: &r.note,
            mint: r.mint,
            purpose: Purpose::Request(r.id),
            pocket: MAIN,
            refund_after: None,
            discount: 0,
            id: None,
        };
        match self.pay_with_coupon(out, coupon).await {
            Ok(s) => {
                shown.paid = true;
                shown.payment = Some(s);
                Ok(shown)
            }
            Err(e) => {
                if !matches!(e, PayServiceError::MintUnreachable(_)) {
                    self.store().put_pay_request(&RequestRecord {
                        request: r,
                        own: false,
                        paid: None,
                    })?;
                    self.store().flush_async().await?;
                }
                Err(e)
            }
        }
    }

    /// `pay requests`: the requests we made, newest first.
    pub fn requests(&self) -> Result<Vec<RequestView>, PayServiceError> {
        let mut v = Vec::new();
        for rec in self.store().own_requests()? {
            v.push(self.request_view(&rec.request, rec.paid.is_some())?);
        }
        v.sort_by_key(|r| std::cmp::Reverse(r.expires_at));
        Ok(v)
    }
}
