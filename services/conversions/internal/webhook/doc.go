// Package webhook verifies Standard Webhooks signatures
// (standardwebhooks.com): a webhook-id, a webhook-timestamp in unix seconds
// and a webhook-signature header listing space-separated "v1,<base64>"
// HMAC-SHA256 signatures of "<id>.<timestamp>.<raw body>" under a secret
// written "whsec_<base64 key>". One valid signature under one active secret
// is enough; comparisons take constant time; the timestamp must be within
// a tolerance of now, which bounds replay of a captured request.
package webhook
