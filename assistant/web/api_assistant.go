package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/assistant/chat"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// apiRequest is the body of POST /api/v1/assistant.
type apiRequest struct {
	Message        string `json:"message"`
	ConversationID string `json:"conversation_id"`
	Lang           string `json:"lang"`
}

// apiResponse is its answer.
type apiResponse struct {
	ConversationID string            `json:"conversation_id"`
	Reply          string            `json:"reply"`
	Lang           string            `json:"lang"`
	Suggestions    []chat.Suggestion `json:"suggestions"`
	Actions        []chat.Action     `json:"actions"`
}

// errorBody is the API's error shape, as in every /api/v1 answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// apiMessage answers POST /api/v1/assistant: one message of a
// conversation, and the reply with the token of the next.
func (h *Handler) apiMessage(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if !h.allow(w, r) {
		h.apiError(w, r, http.StatusTooManyRequests, "rate_limited", nil)
		return
	}
	var in apiRequest
	if status, code, fields := decodeJSON(r, &in); status != 0 {
		h.apiError(w, r, status, code, fields)
		return
	}
	lang := strings.ToLower(strings.TrimSpace(in.Lang))
	fields := map[string]string{}
	if lang != "" && lang != "it" && lang != "en" && lang != "de" {
		fields["lang"] = site.Translate(messages, errLang(r, lang), "error.lang")
	}
	if err := chat.CheckMessage(in.Message); err != nil {
		var fe *chat.FieldError
		if errors.As(err, &fe) {
			fields[fe.Field] = fe.Message(errLang(r, lang))
		}
	}
	if len(fields) > 0 {
		h.apiError(w, r, http.StatusUnprocessableEntity, "invalid", fields)
		return
	}
	resp, err := h.engine.Handle(r.Context(), t, h.request(r, in.Message, in.ConversationID, lang, false))
	if err != nil {
		h.engineError(w, r, err, func(status int, code string, fields map[string]string) {
			h.apiError(w, r, status, code, fields)
		})
		return
	}
	writeJSON(w, http.StatusOK, apiResponse{
		ConversationID: resp.ConversationID, Reply: resp.Reply, Lang: resp.Lang,
		Suggestions: resp.Suggestions, Actions: resp.Actions,
	})
}

// engineError maps an error of chat.Engine.Handle to a status and code.
func (h *Handler) engineError(w http.ResponseWriter, r *http.Request, err error, answer func(int, string, map[string]string)) {
	var fe *chat.FieldError
	switch {
	case errors.As(err, &fe):
		answer(http.StatusUnprocessableEntity, "invalid", map[string]string{fe.Field: fe.Message(errLang(r, ""))})
	case errors.Is(err, chat.ErrBusy):
		w.Header().Set("Retry-After", "60")
		answer(http.StatusServiceUnavailable, "busy", nil)
	default:
		h.log.Error("assistant failed", "path", r.URL.Path, "err", err)
		answer(http.StatusInternalServerError, "failed", nil)
	}
}

// errLang is the language of error messages: the body's lang, else the
// request's negotiated language.
func errLang(r *http.Request, lang string) string {
	switch lang {
	case "it", "en", "de":
		return lang
	}
	return site.LangFrom(r.Context())
}

// apiError answers an error in the API's JSON shape.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, status int, code string, fields map[string]string) {
	key := "error." + code
	if code == "rate_limited" {
		key = "error.rate"
	}
	writeJSON(w, status, errorBody{Error: errorDetail{
		Code: code, Message: site.Translate(messages, errLang(r, ""), key), Fields: fields,
	}})
}

// writeJSON answers v as JSON, never cached: a reply holds the
// conversation's token.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // The client may have gone; nothing to do then.
}

// decodeJSON reads one JSON object into v. It answers a status, a code and
// field errors for a wrong content type (415), a body over the cap (413),
// malformed JSON or trailing data (400), and unknown fields or values of
// the wrong type (422); status 0 when v was read.
func decodeJSON(r *http.Request, v any) (int, string, map[string]string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, "media", nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, "too_large", nil
		}
		return http.StatusBadRequest, "malformed", nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return http.StatusUnprocessableEntity, "invalid", map[string]string{ute.Field: site.Translate(messages, errLang(r, ""), "error.invalid")}
		}
		if name, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok {
			return http.StatusUnprocessableEntity, "invalid", map[string]string{strings.TrimSuffix(name, `"`): site.Translate(messages, errLang(r, ""), "error.field")}
		}
		return http.StatusBadRequest, "malformed", nil
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return http.StatusBadRequest, "malformed", nil
	}
	return 0, "", nil
}
