// Package web serves the virtual assistant to citizens: the JSON API
// POST /api/v1/assistant for every channel (the chat widget, a mobile
// app, a messaging bridge), the page /assistente, a server-rendered
// conversation that works without JavaScript, and /assistente/widget.js,
// the script the layout loads on every citizen page to turn the header's
// link to /assistente into a chat panel.
//
// The conversation itself is package assistant/chat's; this package
// only speaks HTTP: the Comune from the Host (site.Tenant), the body
// limit, the per-address rate limit, cross-site protection, and the
// errors in the API's JSON shape.
package web
