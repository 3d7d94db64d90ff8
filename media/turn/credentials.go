package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"time"
)

// Credentials returns the TURN REST credentials ("time-limited
// credentials", as coturn's use-auth-secret) for user, valid until expiry:
// username "<expiry unix>:<user>", password base64(HMAC-SHA1(secret,
// username)).
func Credentials(secret []byte, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, restPassword(secret, username)
}

// restPassword is the password the REST scheme derives from a username.
func restPassword(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
