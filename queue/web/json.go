package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/sportello-virtuale/sportello/queue"
)

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // The client may have gone; nothing to do then.
}

// decodeJSON reads exactly one JSON object into v: 415 for another
// content type, 413 past the cap, 400 for malformed JSON or trailing
// data, 422 (a *queue.ValidationError) for unknown fields or values of
// the wrong type.
func decodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errUnsupportedMedia
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: read body: %v", errMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &ute) && ute.Field != "":
			// A nested field ("proof.counter") is reported on its
			// object, the field clients show.
			field, _, _ := strings.Cut(ute.Field, ".")
			want := "una stringa"
			switch ute.Type.Kind() {
			case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
				want = "un numero intero non negativo"
			case reflect.Struct, reflect.Pointer:
				want = "un oggetto"
			}
			return &queue.ValidationError{Fields: map[string]string{field: "Tipo di valore non valido: atteso " + want + "."}}
		case strings.HasPrefix(err.Error(), `json: unknown field "`):
			name := strings.TrimSuffix(strings.TrimPrefix(err.Error(), `json: unknown field "`), `"`)
			return &queue.ValidationError{Fields: map[string]string{name: "Campo non previsto."}}
		}
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", errMalformed)
	}
	return nil
}

// ticketSecret returns the secret of a request, from ?secret= or
// "Authorization: Bearer …".
func ticketSecret(r *http.Request) (string, error) {
	if s := r.URL.Query().Get("secret"); s != "" {
		return s, nil
	}
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), nil
		}
	}
	return "", errSecretRequired
}
