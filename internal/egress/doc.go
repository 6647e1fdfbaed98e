// Package egress is the one outbound HTTP engine: every request Wiresk
// sends to the outside (a Flow's HTTP step, a Connection's Test and an
// app method's request through appcall, OAuth token calls) goes through
// its guarded client, and every retried request through its Engine.
//
// It provides:
//
//   - Guard: the SSRF guard, checked on every dialed address (redirects
//     included), with WIRESK_HTTP_ALLOW_CIDRS as its allow-list;
//   - NewClient: the guarded *http.Client, with the redirect policy (5 at
//     most, http and https only, and a request that carries a credential
//     stays on its host);
//   - Engine.Do: the retrier: tries bounded by Timeout, an exponential
//     backoff with jitter (package backoff), Retry-After honoured up to
//     MaxDelay, 408, 429 and 5xx retried but 508, refused destinations and
//     redirects permanent, the response body capped, and the secrets of
//     the request scrubbed out of its messages.
//
// Callers only shape requests and judge answers: package step builds a
// Flow's request from its input and reads 4xx as permanent; package
// appcall puts a Connection's credential where the app's catalog says and
// classifies answers with the catalog's rules; package connect pins a
// step's credential to the app's host (connect.Credentials.Authenticator)
// before step marks the request Pinned; package oauth hands the guarded
// client to x/oauth2, which makes one try per token call.
//
// Retries that are not outbound HTTP share the backoff computation
// (package backoff) but not this engine: the DynamoDB store retrying
// conditional writes that lost a race, the refresh lease waits of the
// token source and of the Connection service, the token write-back, the
// queue pump's failed receives and the queues' redelivery delay.
package egress
