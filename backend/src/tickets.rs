//! Tickets and their comments. Customers see their own tickets, agents the tickets of their
//! queues, admins all; the checks live in the SQL so a list never returns what a get would refuse.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::{Caller, Role};
use crate::limits::{COMMENT_BODY, DESCRIPTION, LISTED_DESCRIPTION_CHARS, TITLE};
use crate::{ApiError, AppState};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

#[derive(Debug, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: i16,
    pub requester_id: i64,
    pub assignee_id: Option<i64>,
    pub queue_id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
pub struct NewTicket {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub priority: Option<i16>,
    pub queue_id: i64,
}

pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<NewTicket>, JsonRejection>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let Json(new) = body?;
    let title = TITLE.check(new.title.trim())?;
    if title.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "title must be 1 to {} characters",
            TITLE.max_chars
        )));
    }
    let description = DESCRIPTION.check(&new.description)?;
    let priority = new.priority.unwrap_or(2);
    if !(0..=4).contains(&priority) {
        return Err(ApiError::Unprocessable(
            "priority must be 0 (lowest) to 4 (most urgent)".into(),
        ));
    }
    let ticket = sqlx::query_as!(
        Ticket,
        "INSERT INTO tickets (title, description, priority, requester_id, queue_id)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, title, description, status, priority, requester_id, assignee_id, queue_id,
                   created_at, updated_at",
        title,
        description,
        priority,
        caller.id,
        new.queue_id
    )
    .fetch_one(&state.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

/// A ticket the caller may see, or why not: 404 when it does not exist, 403 when it is not theirs.
async fn visible_ticket(state: &AppState, caller: Caller, id: i64) -> Result<Ticket, ApiError> {
    let row = sqlx::query!(
        r#"SELECT t.id, t.title, t.description, t.status, t.priority, t.requester_id, t.assignee_id,
                  t.queue_id, t.created_at, t.updated_at,
                  ($2 = 'admin'
                   OR ($2 = 'customer' AND t.requester_id = $3)
                   OR ($2 = 'agent' AND EXISTS (SELECT FROM queue_agents qa
                                                WHERE qa.user_id = $3 AND qa.queue_id = t.queue_id))
                  ) AS "visible!"
           FROM tickets t WHERE t.id = $1"#,
        id,
        caller.role.as_str(),
        caller.id
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("ticket {id} does not exist")))?;
    if !row.visible {
        return Err(ApiError::Forbidden(format!(
            "ticket {id} is not yours to see"
        )));
    }
    Ok(Ticket {
        id: row.id,
        title: row.title,
        description: row.description,
        status: row.status,
        priority: row.priority,
        requester_id: row.requester_id,
        assignee_id: row.assignee_id,
        queue_id: row.queue_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub async fn get(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<Ticket>, ApiError> {
    let Path(id) = path?;
    Ok(Json(visible_ticket(&state, caller, id).await?))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub queue_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// A ticket as lists show it: its description cut to `LISTED_DESCRIPTION_CHARS` characters.
#[derive(Debug, Serialize)]
pub struct ListedTicket {
    #[serde(flatten)]
    pub ticket: Ticket,
    /// The description is longer than the list shows: `GET /tickets/{id}` has all of it.
    pub description_truncated: bool,
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub tickets: Vec<ListedTicket>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// Where a page ends, in the list's order (priority descending, then oldest first):
/// `priority.created_at_unix_micros.id`.
struct Cursor {
    priority: i16,
    created_at: OffsetDateTime,
    id: i64,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor, ApiError> {
        let bad =
            || ApiError::BadRequest(format!("`after` is not a cursor this API issued: {text}"));
        let mut parts = text.split('.');
        let (Some(priority), Some(micros), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Cursor {
            priority: priority.parse().map_err(|_| bad())?,
            created_at: from_unix_micros(micros).ok_or_else(bad)?,
            id: id.parse().map_err(|_| bad())?,
        })
    }

    fn of(ticket: &Ticket) -> String {
        format!(
            "{}.{}.{}",
            ticket.priority,
            unix_micros(ticket.created_at),
            ticket.id
        )
    }
}

/// A cursor's timestamp; `None` for what is not a number or out of range (checked, a client
/// chooses the number).
fn from_unix_micros(text: &str) -> Option<OffsetDateTime> {
    let micros: i128 = text.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()
}

fn unix_micros(at: OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 1000
}

pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(query) = query?;
    let limit = page_limit(query.limit)?;
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let after = query.after.as_deref().map(Cursor::parse).transpose()?;
    // Keyset pagination: the next page starts after the last row of this one, found through the
    // index instead of counted past with OFFSET.
    let rows = sqlx::query!(
        // The description is cut in the outer query, after the LIMIT: written in one query,
        // PostgreSQL computes left() and char_length() for every row the sort reads, not only for
        // the page's (measured with `cargo xtask bench api --against`).
        r#"SELECT t.id, t.title, left(t.description, $10) AS "description!",
                char_length(t.description) > $10 AS "description_truncated!",
                t.status, t.priority, t.requester_id, t.assignee_id, t.queue_id, t.created_at,
                t.updated_at
         FROM (SELECT t.id, t.title, t.description, t.status, t.priority, t.requester_id,
                      t.assignee_id, t.queue_id, t.created_at, t.updated_at
               FROM tickets t
               WHERE ($1::text IS NULL OR t.status = $1)
                 AND ($2::bigint IS NULL OR t.queue_id = $2)
                 AND ($3::bigint IS NULL OR t.assignee_id = $3)
                 AND ($4 = 'admin'
                      OR ($4 = 'customer' AND t.requester_id = $5)
                      OR ($4 = 'agent' AND t.queue_id IN (SELECT qa.queue_id FROM queue_agents qa WHERE qa.user_id = $5)))
                 AND ($6::smallint IS NULL
                      OR t.priority < $6
                      OR (t.priority = $6 AND (t.created_at, t.id) > ($7::timestamptz, $8::bigint)))
               ORDER BY t.priority DESC, t.created_at, t.id
               LIMIT $9) t
         ORDER BY t.priority DESC, t.created_at, t.id"#,
        query.status,
        query.queue_id,
        query.assignee_id,
        caller.role.as_str(),
        caller.id,
        after.as_ref().map(|cursor| cursor.priority),
        after.as_ref().map(|cursor| cursor.created_at),
        after.as_ref().map(|cursor| cursor.id),
        limit,
        LISTED_DESCRIPTION_CHARS
    )
    .fetch_all(&state.pool)
    .await?;
    let tickets: Vec<ListedTicket> = rows
        .into_iter()
        .map(|row| ListedTicket {
            ticket: Ticket {
                id: row.id,
                title: row.title,
                description: row.description,
                status: row.status,
                priority: row.priority,
                requester_id: row.requester_id,
                assignee_id: row.assignee_id,
                queue_id: row.queue_id,
                created_at: row.created_at,
                updated_at: row.updated_at,
            },
            description_truncated: row.description_truncated,
        })
        .collect();
    let next = (tickets.len() as i64 == limit)
        .then(|| tickets.last().map(|listed| Cursor::of(&listed.ticket)))
        .flatten();
    Ok(Json(Page { tickets, next }))
}

const STATUSES: [&str; 4] = ["open", "in_progress", "resolved", "closed"];

/// The one status each status may move to.
fn next_status(status: &str) -> Option<&'static str> {
    match status {
        "open" => Some("in_progress"),
        "in_progress" => Some("resolved"),
        "resolved" => Some("closed"),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub struct StatusChange {
    pub status: String,
}

pub async fn update_status(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> Result<Json<Ticket>, ApiError> {
    let Path(id) = path?;
    let Json(change) = body?;
    if !STATUSES.contains(&change.status.as_str()) {
        return Err(ApiError::Unprocessable(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let ticket = visible_ticket(&state, caller, id).await?;
    if next_status(&ticket.status) != Some(change.status.as_str()) {
        return Err(ApiError::Conflict(format!(
            "ticket {id} is {}; it can only move to {}",
            ticket.status,
            next_status(&ticket.status).unwrap_or("nothing (closed is final)")
        )));
    }
    let closing_own = caller.role == Role::Customer && change.status == "closed";
    if caller.role == Role::Customer && !closing_own {
        return Err(ApiError::Forbidden(
            "customers may only close their resolved tickets".into(),
        ));
    }
    // Moves only from the status just read: a concurrent change makes this a conflict, not a skip.
    let updated = sqlx::query_as!(
        Ticket,
        "UPDATE tickets SET status = $2 WHERE id = $1 AND status = $3
         RETURNING id, title, description, status, priority, requester_id, assignee_id, queue_id,
                   created_at, updated_at",
        id,
        change.status,
        ticket.status
    )
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::Conflict(format!("ticket {id} changed meanwhile; read it again")))?;
    Ok(Json(updated))
}

#[derive(Debug, Deserialize)]
pub struct Assignment {
    pub assignee_id: Option<i64>,
}

pub async fn assign(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<Assignment>, JsonRejection>,
) -> Result<Json<Ticket>, ApiError> {
    caller.require(&[Role::Agent, Role::Admin], "assign tickets")?;
    let Path(id) = path?;
    let Json(assignment) = body?;
    let ticket = visible_ticket(&state, caller, id).await?;
    if let Some(assignee) = assignment.assignee_id {
        let works_queue = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT FROM queue_agents WHERE user_id = $1 AND queue_id = $2) AS "works!""#,
            assignee,
            ticket.queue_id
        )
        .fetch_one(&state.pool)
        .await?;
        if !works_queue {
            return Err(ApiError::Unprocessable(format!(
                "user {assignee} is not an agent of queue {}",
                ticket.queue_id
            )));
        }
    }
    let updated = sqlx::query_as!(
        Ticket,
        "UPDATE tickets SET assignee_id = $2 WHERE id = $1
         RETURNING id, title, description, status, priority, requester_id, assignee_id, queue_id,
                   created_at, updated_at",
        id,
        assignment.assignee_id
    )
    .fetch_one(&state.pool)
    .await?;
    Ok(Json(updated))
}

#[derive(Debug, Serialize)]
pub struct Comment {
    pub id: i64,
    pub ticket_id: i64,
    pub author_id: i64,
    pub body: String,
    pub internal: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Deserialize)]
pub struct NewComment {
    pub body: String,
    #[serde(default)]
    pub internal: bool,
}

pub async fn add_comment(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<NewComment>, JsonRejection>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    let Path(id) = path?;
    let Json(new) = body?;
    COMMENT_BODY.check(&new.body)?;
    if new.body.trim().is_empty() {
        return Err(ApiError::Unprocessable("a comment needs a body".into()));
    }
    if new.internal && caller.role == Role::Customer {
        return Err(ApiError::Forbidden(
            "customers may not write internal notes".into(),
        ));
    }
    visible_ticket(&state, caller, id).await?;
    let comment = sqlx::query_as!(
        Comment,
        "INSERT INTO comments (ticket_id, author_id, body, internal) VALUES ($1, $2, $3, $4)
         RETURNING id, ticket_id, author_id, body, internal, created_at",
        id,
        caller.id,
        new.body,
        new.internal
    )
    .fetch_one(&state.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

#[derive(Debug, Deserialize)]
pub struct CommentsQuery {
    pub limit: Option<i64>,
    /// From the `Link: <...>; rel="next"` header of the previous page.
    pub after: Option<String>,
}

/// Oldest first, a page at a time. The body stays the array it always was; the next page's
/// address is in a `Link` header (RFC 8288), absent on the last page.
pub async fn list_comments(
    caller: Caller,
    State(state): State<AppState>,
    path: Result<Path<i64>, PathRejection>,
    query: Result<Query<CommentsQuery>, QueryRejection>,
) -> Result<(HeaderMap, Json<Vec<Comment>>), ApiError> {
    let Path(id) = path?;
    let Query(query) = query?;
    let limit = page_limit(query.limit)?;
    // `created_at_unix_micros.id` of the last comment of the previous page.
    let after = query
        .after
        .as_deref()
        .map(|text| {
            text.split_once('.')
                .and_then(|(micros, id)| Some((from_unix_micros(micros)?, id.parse::<i64>().ok()?)))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("`after` is not a cursor this API issued: {text}"))
                })
        })
        .transpose()?;
    visible_ticket(&state, caller, id).await?;
    let comments = sqlx::query_as!(
        Comment,
        "SELECT id, ticket_id, author_id, body, internal, created_at FROM comments
         WHERE ticket_id = $1 AND (NOT internal OR $2 <> 'customer')
           AND ($3::timestamptz IS NULL OR (created_at, id) > ($3::timestamptz, $4::bigint))
         ORDER BY created_at, id
         LIMIT $5",
        id,
        caller.role.as_str(),
        after.map(|(created_at, _)| created_at),
        after.map(|(_, id)| id),
        limit
    )
    .fetch_all(&state.pool)
    .await?;
    let mut headers = HeaderMap::new();
    if let Some(last) = comments.last().filter(|_| comments.len() as i64 == limit) {
        let link = format!(
            "</tickets/{id}/comments?limit={limit}&after={}.{}>; rel=\"next\"",
            unix_micros(last.created_at),
            last.id
        );
        headers.insert(
            header::LINK,
            link.parse().expect("digits, dots and ASCII punctuation"),
        );
    }
    Ok((headers, Json(comments)))
}

/// `limit` as given, or the default; refused outside 1 to `MAX_PAGE`.
fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    Ok(limit)
}
