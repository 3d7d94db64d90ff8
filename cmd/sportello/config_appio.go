package main

import "net/url"

// AppIOConfig is [appio]: where the App IO notifications of the Comuni's
// services go (issue 11). Each service's API key is set by its Comune in
// the back office (/gestione/servizi/{id}/app-io), sealed with
// secrets.key; only the endpoint is the node's, so that a test or a
// staging cluster can point at another one.
type AppIOConfig struct {
	// BaseURL is App IO's API, "https://api.io.pagopa.it/api/v1" by
	// default.
	BaseURL string `toml:"base_url"`
}

// defaultAppIOBaseURL is App IO's production API.
const defaultAppIOBaseURL = "https://api.io.pagopa.it/api/v1"

func defaultAppIOConfig() AppIOConfig { return AppIOConfig{BaseURL: defaultAppIOBaseURL} }

// validate reports what is wrong in [appio] through bad.
func (c AppIOConfig) validate(bad func(format string, args ...any)) {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		bad("appio.base_url %q: want an https URL such as %s", c.BaseURL, defaultAppIOBaseURL)
	}
}
