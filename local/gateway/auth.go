package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// secretDigest is what credentials are compared as: equal-length digests, so
// the comparison takes the same time whatever the length of a guess.
func secretDigest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// requireAdmin guards next with HTTP basic auth, as the OpenFaaS gateway
// guards /system/*. A request without the admin's user and password answers
// 401 with a Basic challenge (so faas-cli and browsers know to ask) before
// anything else is looked at, unknown paths included.
func (g *Gateway) requireAdmin(next http.Handler) http.Handler {
	wantUser, wantPassword := secretDigest(g.cfg.AdminUser), secretDigest(g.cfg.AdminPassword)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		gotUser, gotPassword := secretDigest(user), secretDigest(password)
		// Both compared every time, so timing says nothing about which was wrong.
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passwordOK := subtle.ConstantTimeCompare(gotPassword[:], wantPassword[:])
		if !ok || userOK&passwordOK != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="payment-pet gateway", charset="UTF-8"`)
			httpError(w, http.StatusUnauthorized, "Credentials required for %s: HTTP basic auth as the gateway's admin (faas-cli login).", r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// asyncAuthorized reports whether an /async-function caller presents one of
// Config.APIKeys as a bearer token; with no keys configured, anyone may
// queue a call and the function alone decides, as it does for /function/.
func (g *Gateway) asyncAuthorized(r *http.Request) bool {
	if len(g.apiKeys) == 0 {
		return true
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := secretDigest(token)
	match := 0
	for _, key := range g.apiKeys {
		match |= subtle.ConstantTimeCompare(got[:], key[:])
	}
	return match == 1
}

// callbackAllowed reports whether host (without port) is one of
// Config.CallbackHosts.
func (g *Gateway) callbackAllowed(host string) bool {
	for _, allowed := range g.cfg.CallbackHosts {
		if strings.EqualFold(host, allowed) {
			return true
		}
	}
	return false
}
