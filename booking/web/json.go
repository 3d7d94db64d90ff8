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

	"github.com/sportello-virtuale/sportello/booking"
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

// decodeJSON reads exactly one JSON object from the request body into v,
// a pointer to a struct. It refuses other content types (415), bodies over
// the cap (413, set by wrap), malformed JSON or trailing data (400), and
// unknown fields or values of the wrong type (422, as a
// *booking.ValidationError naming the field by its path, "citizen.age", so
// clients get the same error shape as for invalid values).
func decodeJSON(r *http.Request, v any) error {
	// The type clients send is taken as it is; anything else is parsed.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errUnsupportedMedia
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: read body: %v", errMalformed, err)
	}
	return decodeBody(body, v)
}

// decodeBody decodes body into v as decodeJSON describes. The body of a
// booking, into an empty request, goes through decodeBookingRequest when
// it has the usual shape; everything else through encoding/json.
func decodeBody(body []byte, v any) error {
	if in, ok := v.(*apiBookingRequest); ok && *in == (apiBookingRequest{}) && decodeBookingRequest(body, in) {
		return nil
	}
	return decodeBodyJSON(body, v)
}

// decodeBodyJSON is decodeBody with encoding/json alone.
func decodeBodyJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body, reflect.TypeOf(v))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON object", errMalformed)
	}
	return nil
}

// decodeError turns an encoding/json error into the web layer's errors.
// body and typ let it name an unknown field by its full path, which
// encoding/json does not give.
func decodeError(err error, body []byte, typ reflect.Type) error {
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ute):
		field := ute.Field
		if field == "" {
			return fmt.Errorf("%w: want a JSON object", errMalformed)
		}
		return &booking.ValidationError{Fields: map[string]string{
			field: "Tipo di valore non valido: atteso " + jsonKind(ute.Type.Kind().String()) + ".",
		}}
	case strings.HasPrefix(err.Error(), `json: unknown field "`):
		var doc any
		fields := map[string]string{}
		if json.Unmarshal(body, &doc) == nil {
			for _, path := range unknownFields(doc, typ, "") {
				fields[path] = "Campo non previsto."
			}
		}
		if len(fields) == 0 {
			name := strings.TrimSuffix(strings.TrimPrefix(err.Error(), `json: unknown field "`), `"`)
			fields[name] = "Campo non previsto."
		}
		return &booking.ValidationError{Fields: fields}
	}
	return fmt.Errorf("%w: %v", errMalformed, err)
}

// unknownFields lists the paths of the object keys in doc that typ has no
// field for, descending into nested structs.
func unknownFields(doc any, typ reflect.Type, prefix string) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	obj, ok := doc.(map[string]any)
	if !ok || typ.Kind() != reflect.Struct {
		return nil
	}
	known := map[string]reflect.Type{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		known[strings.ToLower(name)] = f.Type
	}
	var out []string
	for k, val := range obj {
		ft, ok := known[strings.ToLower(k)]
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		out = append(out, unknownFields(val, ft, prefix+k+".")...)
	}
	return out
}

// jsonKind names a Go kind as the JSON type a client must send.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "stringa"
	case "bool":
		return "booleano (true o false)"
	case "struct", "map":
		return "oggetto"
	case "slice", "array":
		return "array"
	}
	return "numero"
}

// bearerToken returns the manage token of an API request, from
// "Authorization: Bearer …" or ?token=.
func bearerToken(r *http.Request) (string, error) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), nil
		}
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		return tok, nil
	}
	return "", errTokenRequired
}
