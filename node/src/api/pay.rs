//! Control API routes for Weft Pay: mints (`/v1/mint/...`), the wallet
//! (`/v1/wallet`, `/v1/wallet/history`), payments (`/v1/pay/...`), red
//! envelopes (`/v1/redpacket/...`) and coupons (`/v1/coupon/...`). The
//! handlers only parse and answer; the work is in [`crate::pay::Pay`].

use super::prelude::*;

use crate::pay::{
    BalanceView, CouponView, ExchangeQuote, MintView, PacketView, PaymentView, RequestShown,
    RequestView, SendResult,
};

/// The pay routes.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/mint/create", post(mint_create))
        .route("/v1/mint/issue", post(mint_issue))
        .route("/v1/mint/rate", post(mint_rate))
        .route("/v1/mint/status", get(mint_status))
        .route("/v1/wallet", get(wallet))
        .route("/v1/wallet/history", get(history))
        .route("/v1/pay/send", post(send))
        .route("/v1/pay/request", post(request))
        .route("/v1/pay/requests", get(requests))
        .route("/v1/pay/scan", post(scan))
        .route("/v1/pay/exchange", post(exchange))
        .route("/v1/pay/token", post(token))
        .route("/v1/pay/redeem", post(redeem))
        .route("/v1/redpacket/send", post(packet_send))
        .route("/v1/redpacket/grab", post(packet_grab))
        .route("/v1/redpacket/show", get(packet_show))
        .route("/v1/redpackets", get(packet_list))
        .route("/v1/coupon/create", post(coupon_create))
        .route("/v1/coupon/claim", post(coupon_claim))
        .route("/v1/coupons", get(coupons))
}

/// `POST /v1/mint/create` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct MintCreate {
    /// The mint's name.
    pub name: String,
    /// Its currencies ("CNY", "EUR").
    pub currencies: Vec<String>,
}

/// `POST /v1/mint/issue` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct MintIssue {
    /// One of our mints (id or name).
    pub mint: String,
    /// The friend to top up.
    pub contact: String,
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
}

/// `POST /v1/mint/rate` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct MintRate {
    /// One of our mints.
    pub mint: String,
    /// From currency.
    pub from: String,
    /// To currency.
    pub to: String,
    /// One unit of `from` in `to` ("0.1285").
    pub rate: String,
}

/// `POST /v1/pay/send` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct PaySend {
    /// The friend.
    pub to: String,
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Note.
    #[serde(default)]
    pub note: String,
    /// The mint to pay from.
    #[serde(default)]
    pub mint: Option<String>,
    /// Seconds until an unclaimed payment comes back (default 24 h).
    #[serde(default)]
    pub refund_after: Option<u64>,
    /// A coupon to use (code or title).
    #[serde(default)]
    pub coupon: Option<String>,
}

/// `POST /v1/pay/request` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct PayRequestBody {
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// Note.
    #[serde(default)]
    pub note: String,
    /// The mint to be paid in.
    #[serde(default)]
    pub mint: Option<String>,
    /// Seconds it stays valid (default 24 h).
    #[serde(default)]
    pub valid_secs: Option<u64>,
}

/// `POST /v1/pay/scan` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct PayScan {
    /// The request (text or link).
    pub request: String,
    /// Pay it (`false`: only show it).
    #[serde(default)]
    pub pay: bool,
    /// A coupon to use.
    #[serde(default)]
    pub coupon: Option<String>,
}

/// `POST /v1/pay/exchange` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct PayExchange {
    /// Decimal amount of `from`.
    pub amount: String,
    /// From currency.
    pub from: String,
    /// To currency.
    pub to: String,
    /// The mint.
    #[serde(default)]
    pub mint: Option<String>,
    /// Make it (`false`: a quote).
    #[serde(default)]
    pub go: bool,
}

/// `POST /v1/pay/token` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct PayToken {
    /// Decimal amount.
    pub amount: String,
    /// Currency.
    pub currency: String,
    /// The mint.
    #[serde(default)]
    pub mint: Option<String>,
}

/// `POST /v1/pay/token` answer and `POST /v1/pay/redeem` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenText {
    /// `weft://cash/...`.
    pub token: String,
}

/// `POST /v1/redpacket/send` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct PacketSend {
    /// Group (id or name) or friend.
    pub to: String,
    /// Decimal total.
    pub total: String,
    /// Currency.
    pub currency: String,
    /// Shares.
    pub count: u32,
    /// Random shares.
    #[serde(default)]
    pub lucky: bool,
    /// Note.
    #[serde(default)]
    pub note: String,
    /// The mint.
    #[serde(default)]
    pub mint: Option<String>,
    /// Seconds it may be grabbed (default 24 h).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// An envelope's id.
#[derive(Debug, Serialize, Deserialize)]
pub struct PacketId {
    /// Its id (or a unique prefix).
    pub id: String,
}

/// `POST /v1/coupon/create` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct CouponCreate {
    /// The official account that offers it (posts the offer to followers).
    #[serde(default)]
    pub oa: Option<String>,
    /// One of our mints.
    pub mint: String,
    /// The currency it discounts.
    pub currency: String,
    /// Amount off ("5.00").
    #[serde(default)]
    pub off: Option<String>,
    /// Percent off.
    #[serde(default)]
    pub percent: Option<u8>,
    /// Title ("5.00 EUR off").
    #[serde(default)]
    pub title: Option<String>,
    /// Seconds it is valid.
    pub valid_secs: u64,
}

/// `POST /v1/coupon/claim` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct CouponClaim {
    /// The offer link.
    pub link: String,
}

/// `?limit=` for the history.
#[derive(Debug, Serialize, Deserialize)]
pub struct Limit {
    /// Most entries.
    #[serde(default)]
    pub limit: Option<usize>,
}

async fn mint_create(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<MintCreate>,
) -> Result<Json<MintView>, ApiError> {
    Ok(Json(node.pay.mint_create(&b.name, &b.currencies).await?))
}

async fn mint_issue(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<MintIssue>,
) -> Result<Json<SendResult>, ApiError> {
    Ok(Json(
        node.pay
            .mint_issue(&b.mint, &b.contact, &b.amount, &b.currency)
            .await?,
    ))
}

async fn mint_rate(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<MintRate>,
) -> Result<Json<MintView>, ApiError> {
    Ok(Json(
        node.pay.mint_rate(&b.mint, &b.from, &b.to, &b.rate).await?,
    ))
}

async fn mint_status(State(node): State<Shared>) -> Result<Json<Vec<MintView>>, ApiError> {
    Ok(Json(node.pay.mint_status()?))
}

async fn wallet(State(node): State<Shared>) -> Result<Json<Vec<BalanceView>>, ApiError> {
    Ok(Json(node.pay.wallet()?))
}

async fn history(
    State(node): State<Shared>,
    Params(q): Params<Limit>,
) -> Result<Json<Vec<PaymentView>>, ApiError> {
    Ok(Json(node.pay.history(q.limit.unwrap_or(200).min(10_000))?))
}

async fn send(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PaySend>,
) -> Result<Json<SendResult>, ApiError> {
    Ok(Json(
        node.pay
            .send(
                &b.to,
                &b.amount,
                &b.currency,
                &b.note,
                b.mint.as_deref(),
                b.refund_after,
                b.coupon.as_deref(),
            )
            .await?,
    ))
}

async fn request(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PayRequestBody>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(
        node.pay
            .request(
                &b.amount,
                &b.currency,
                &b.note,
                b.mint.as_deref(),
                b.valid_secs,
            )
            .await?,
    ))
}

async fn requests(State(node): State<Shared>) -> Result<Json<Vec<RequestView>>, ApiError> {
    Ok(Json(node.pay.requests()?))
}

async fn scan(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PayScan>,
) -> Result<Json<RequestShown>, ApiError> {
    Ok(Json(
        node.pay
            .scan(&b.request, b.pay, b.coupon.as_deref())
            .await?,
    ))
}

async fn exchange(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PayExchange>,
) -> Result<Json<ExchangeQuote>, ApiError> {
    Ok(Json(
        node.pay
            .exchange(&b.amount, &b.from, &b.to, b.mint.as_deref(), b.go)
            .await?,
    ))
}

async fn token(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PayToken>,
) -> Result<Json<TokenText>, ApiError> {
    Ok(Json(TokenText {
        token: node
            .pay
            .token_export(&b.amount, &b.currency, b.mint.as_deref())
            .await?,
    }))
}

async fn redeem(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<TokenText>,
) -> Result<Json<SendResult>, ApiError> {
    Ok(Json(node.pay.token_redeem(&b.token).await?))
}

async fn packet_send(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PacketSend>,
) -> Result<Json<PacketView>, ApiError> {
    Ok(Json(
        node.pay
            .packet_send(
                &b.to,
                &b.total,
                &b.currency,
                b.count,
                b.lucky,
                &b.note,
                b.mint.as_deref(),
                b.expires_in,
            )
            .await?,
    ))
}

async fn packet_grab(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<PacketId>,
) -> Result<Json<PacketView>, ApiError> {
    Ok(Json(node.pay.packet_grab(&b.id).await?))
}

async fn packet_show(
    State(node): State<Shared>,
    Params(q): Params<PacketId>,
) -> Result<Json<PacketView>, ApiError> {
    Ok(Json(node.pay.packet_show(&q.id)?))
}

async fn packet_list(State(node): State<Shared>) -> Result<Json<Vec<PacketView>>, ApiError> {
    Ok(Json(node.pay.packet_list()?))
}

async fn coupon_create(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<CouponCreate>,
) -> Result<Json<CouponView>, ApiError> {
    if let Some(oa) = &b.oa {
        // Only the operator of the account offers its coupons.
        node.oa.owned(oa)?;
    }
    let v = node
        .pay
        .coupon_create(
            &b.mint,
            &b.currency,
            b.off.as_deref(),
            b.percent,
            b.title.as_deref(),
            b.valid_secs,
        )
        .await?;
    if let Some(oa) = &b.oa {
        let body = format!(
            "A coupon for followers: {}. Claim it: weft coupon claim {}",
            v.title, v.link
        );
        node.oa
            .publish(
                oa,
                &v.title,
                &body,
                Some(v.link.clone()),
                Vec::new(),
                Vec::new(),
            )
            .await?;
    }
    Ok(Json(v))
}

async fn coupon_claim(
    State(node): State<Shared>,
    JsonBody(b): JsonBody<CouponClaim>,
) -> Result<Json<CouponView>, ApiError> {
    Ok(Json(node.pay.coupon_claim(&b.link).await?))
}

async fn coupons(State(node): State<Shared>) -> Result<Json<Vec<CouponView>>, ApiError> {
    Ok(Json(node.pay.coupons()?))
}
