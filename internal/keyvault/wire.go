package keyvault

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Limits Key Vault applies to secrets.
const (
	// MaxValueBytes is the largest secret value (25 KB).
	MaxValueBytes = 25600
	// MaxTags is the most tags an object may carry.
	MaxTags            = 15
	maxTagNameLength   = 512
	maxTagValueLength  = 256
	maxContentTypeSize = 255
	// maxUnixTime is 9999-12-31T23:59:59Z.
	maxUnixTime = 253402300799
)

// setRequest is the body of PUT /secrets/{name} and PATCH
// /secrets/{name}/{version}. Unknown and read-only fields (created,
// updated, recoveryLevel, id, kid, managed…) are ignored: SDKs send back
// what they read.
type setRequest struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Attributes  *attributesRequest `json:"attributes"`
	Tags        map[string]*string `json:"tags"`
}

type attributesRequest struct {
	Enabled   *bool  `json:"enabled"`
	NotBefore *int64 `json:"nbf"`
	Expires   *int64 `json:"exp"`
}

// setParams is a validated set request.
type setParams struct {
	Value       string
	ContentType string
	Enabled     bool
	NotBefore   time.Time
	Expires     time.Time
	Tags        map[string]string
}

// updateParams is a validated update request; nil fields stay unchanged.
type updateParams struct {
	ContentType *string
	Enabled     *bool
	NotBefore   *time.Time
	Expires     *time.Time
	Tags        map[string]string
	SetTags     bool
}

func decodeSetRequest(body []byte) (setRequest, *Error) {
	var req setRequest
	if len(body) == 0 {
		return req, badParameter("The request body is empty.")
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, badParameter("The request body is not valid JSON: %s", truncate(err.Error()))
	}
	// encoding/json decodes null into a struct as nothing at all.
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return req, badParameter("The request body must be a JSON object, not null.")
	}
	return req, nil
}

// parseSetBody parses and validates the body of a set request.
func parseSetBody(body []byte) (setParams, *Error) {
	req, e := decodeSetRequest(body)
	if e != nil {
		return setParams{}, e
	}
	if req.Value == nil {
		return setParams{}, badParameter("Property 'value' is required.")
	}
	if len(*req.Value) > MaxValueBytes {
		return setParams{}, badParameter("Secret value is too large: %d bytes. The maximum is %d bytes.", len(*req.Value), MaxValueBytes)
	}
	p := setParams{Value: *req.Value, Enabled: true}
	u, e := validateCommon(req)
	if e != nil {
		return setParams{}, e
	}
	if u.ContentType != nil {
		p.ContentType = *u.ContentType
	}
	if u.Enabled != nil {
		p.Enabled = *u.Enabled
	}
	if u.NotBefore != nil {
		p.NotBefore = *u.NotBefore
	}
	if u.Expires != nil {
		p.Expires = *u.Expires
	}
	p.Tags = u.Tags
	return p, nil
}

// parseUpdateBody parses and validates the body of an update request. A
// value in it is ignored.
func parseUpdateBody(body []byte) (updateParams, *Error) {
	req, e := decodeSetRequest(body)
	if e != nil {
		return updateParams{}, e
	}
	return validateCommon(req)
}

func validateCommon(req setRequest) (updateParams, *Error) {
	var u updateParams
	if req.ContentType != nil {
		if len(*req.ContentType) > maxContentTypeSize {
			return u, badParameter("Property 'contentType' is longer than %d characters.", maxContentTypeSize)
		}
		u.ContentType = req.ContentType
	}
	if a := req.Attributes; a != nil {
		u.Enabled = a.Enabled
		for _, f := range []struct {
			name string
			in   *int64
			out  **time.Time
		}{{"nbf", a.NotBefore, &u.NotBefore}, {"exp", a.Expires, &u.Expires}} {
			if f.in == nil {
				continue
			}
			if *f.in < 0 || *f.in > maxUnixTime {
				return u, badParameter("Attribute '%s' is out of range.", f.name)
			}
			t := time.Unix(*f.in, 0).UTC()
			*f.out = &t
		}
	}
	if req.Tags != nil {
		if len(req.Tags) > MaxTags {
			return u, badParameter("An object may have at most %d tags.", MaxTags)
		}
		u.SetTags = true
		u.Tags = make(map[string]string, len(req.Tags))
		for k, v := range req.Tags {
			val := ""
			if v != nil {
				val = *v
			}
			if k == "" || utf8.RuneCountInString(k) > maxTagNameLength || utf8.RuneCountInString(val) > maxTagValueLength {
				return u, badParameter("Tag names must be 1 to %d characters long and tag values at most %d characters.", maxTagNameLength, maxTagValueLength)
			}
			u.Tags[k] = val
		}
	}
	return u, nil
}

// restoreRequest is the body of POST /secrets/restore.
type restoreRequest struct {
	Value *string `json:"value"`
}

// attributesJSON are a secret's attributes on the wire; times are Unix
// seconds.
type attributesJSON struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       int64  `json:"nbf,omitempty"`
	Expires         int64  `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoverableDays int    `json:"recoverableDays"`
	RecoveryLevel   string `json:"recoveryLevel"`
}

// secretJSON is SecretBundle, SecretItem, DeletedSecretBundle and
// DeletedSecretItem: items leave the value out, deleted forms add the
// recovery fields.
type secretJSON struct {
	Value              *string           `json:"value,omitempty"`
	ID                 string            `json:"id"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         attributesJSON    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        int64             `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64             `json:"scheduledPurgeDate,omitempty"`
}

// listJSON is a page of a list.
type listJSON struct {
	Value    []secretJSON `json:"value"`
	NextLink *string      `json:"nextLink"`
}

// backupJSON is the body of a backup response and of a restore request.
type backupJSON struct {
	Value string `json:"value"`
}

// unix renders a time as Unix seconds, the zero time as 0.
func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
