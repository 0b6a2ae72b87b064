// Package secret keeps partner credentials useless to anyone holding only a
// database dump. Webhook secrets must be usable again (to compute HMACs),
// so they are sealed with AES-256-GCM under a key from the environment,
// bound to their partner so a sealed value cannot be moved to another.
// Postback tokens only need comparing, so only their keyed HMAC is stored.
package secret
