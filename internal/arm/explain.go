package arm

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wifproject/wif/internal/arm/armapi"
	"github.com/wifproject/wif/internal/federation"
	"github.com/wifproject/wif/internal/store"
	"github.com/wifproject/wif/internal/sts"
)

// TokenChecker is the token service's decision on a client assertion,
// made by the exchange's own checks without minting; *sts.Service is one.
type TokenChecker interface {
	Check(ctx context.Context, tenant, clientID, assertion string) (sts.Verdict, error)
}

// explainToken serves POST {identity}/explainToken: the token endpoint's
// verdict on a token for the identity, with the closest-credential
// diagnosis, for a caller who may read the identity. The token is never
// logged.
func (h *Handler) explainToken(q *request, sub store.Subscription) (response, error) {
	if h.cfg.Tokens == nil {
		return response{}, notFoundPath(q)
	}
	if err := h.authorize(q, "Microsoft.ManagedIdentity/userAssignedIdentities/read", q.id.scope()); err != nil {
		return response{}, err
	}
	var body armapi.ExplainTokenRequest
	if err := decode(q, &body); err != nil {
		return response{}, err
	}
	if body.Token == "" {
		return response{}, errf(http.StatusBadRequest, "InvalidRequestContent", "The request content must have a 'token'.")
	}
	p, err := h.db.GetIdentity(q.ctx(), sub.ID, q.id.ResourceGroup, q.id.Name)
	if errors.Is(err, store.ErrNotFound) {
		return response{}, resourceNotFound(armapi.TypeIdentity, q.id.ResourceGroup, q.id.Name)
	} else if err != nil {
		return response{}, err
	}
	v, err := h.cfg.Tokens.Check(q.ctx(), p.TenantID, p.ClientID, body.Token)
	if err != nil {
		return response{}, err
	}
	return ok(explainResult(p, v))
}

// explainResult renders a verdict on the wire.
func explainResult(p store.Principal, v sts.Verdict) armapi.ExplainTokenResult {
	out := armapi.ExplainTokenResult{ClientID: p.ClientID, TenantID: p.TenantID, Succeeded: v.Err == nil}
	if e := v.Err; e != nil {
		out.Error = &armapi.ExplainTokenError{Code: e.Code, Error: e.Err, Message: "AADSTS" + strconv.Itoa(e.Code) + ": " + e.Desc}
	}
	if c := v.Claims; c != nil {
		out.Claims = &armapi.ExplainTokenClaims{Issuer: c.Issuer, Subject: c.Subject, Audiences: c.Audience,
			IssuedAt: timeOrNil(c.IssuedAt), NotBefore: timeOrNil(c.NotBefore), ExpiresOn: timeOrNil(c.Expiry)}
		if out.Claims.Audiences == nil {
			out.Claims.Audiences = []string{}
		}
	}
	if m := v.Match; m != nil {
		out.Credentials = &armapi.ExplainTokenMatch{Outcome: outcomeName(m.Outcome), Matched: credential(m.Matched), Closest: credential(m.Closest), Reason: m.Reason}
	}
	return out
}

func outcomeName(o federation.Outcome) string {
	switch o {
	case federation.Matched:
		return armapi.MatchMatched
	case federation.NoCredentials:
		return armapi.MatchNoCredentials
	case federation.IssuerMismatch:
		return armapi.MatchIssuerMismatch
	case federation.SubjectMismatch:
		return armapi.MatchSubjectMismatch
	case federation.SubjectCaseMismatch:
		return armapi.MatchSubjectCaseMismatch
	case federation.AudienceMismatch:
		return armapi.MatchAudienceMismatch
	case federation.ExpressionMismatch:
		return armapi.MatchExpressionMismatch
	}
	return "Outcome" + strconv.Itoa(int(o))
}

func credential(c *federation.Credential) *armapi.ExplainCredential {
	if c == nil {
		return nil
	}
	out := &armapi.ExplainCredential{Name: c.Name, Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience}
	if c.Expr != nil {
		out.ClaimsMatchingExpression = c.Expr.String()
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
