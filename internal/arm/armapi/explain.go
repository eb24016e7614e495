package armapi

import "time"

// ExplainTokenRequest is the body of POST {identity id}/explainToken: a
// token a workload would present for the identity (its service-account
// token, the client assertion).
type ExplainTokenRequest struct {
	Token string `json:"token"`
}

// ExplainTokenResult is the answer of explainToken: the token endpoint's
// own verdict on the token for the identity, reached without minting, and
// how the token compares with the identity's federated credentials.
type ExplainTokenResult struct {
	ClientID string `json:"clientId"`
	TenantID string `json:"tenantId"`
	// Succeeded is true when the token endpoint would issue a token.
	Succeeded bool `json:"succeeded"`
	// Error is the token endpoint's answer when it would refuse.
	Error *ExplainTokenError `json:"error,omitempty"`
	// Claims are the presented claims; absent if the token does not parse.
	Claims *ExplainTokenClaims `json:"claims,omitempty"`
	// Credentials compares the claims with the identity's credentials;
	// absent if the token does not parse.
	Credentials *ExplainTokenMatch `json:"credentials,omitempty"`
}

// ExplainTokenError is a token endpoint error.
type ExplainTokenError struct {
	Code    int    `json:"code"`    // the AADSTS number
	Error   string `json:"error"`   // the OAuth error, e.g. invalid_client
	Message string `json:"message"` // "AADSTS700213: …", as the token endpoint words it
}

// ExplainTokenClaims are the claims a token presents.
type ExplainTokenClaims struct {
	Issuer    string     `json:"issuer"`
	Subject   string     `json:"subject"`
	Audiences []string   `json:"audiences"`
	IssuedAt  *time.Time `json:"issuedAt,omitempty"`
	NotBefore *time.Time `json:"notBefore,omitempty"`
	ExpiresOn *time.Time `json:"expiresOn,omitempty"`
}

// Outcomes of ExplainTokenMatch.
const (
	MatchMatched             = "Matched"
	MatchNoCredentials       = "NoCredentials"
	MatchIssuerMismatch      = "IssuerMismatch"
	MatchSubjectMismatch     = "SubjectMismatch"
	MatchSubjectCaseMismatch = "SubjectCaseMismatch"
	MatchAudienceMismatch    = "AudienceMismatch"
	MatchExpressionMismatch  = "ExpressionMismatch"
)

// ExplainTokenMatch is the credential match: the credential that accepts
// the claims, or the closest one and why it does not. It is reported
// whether or not the token's signature verifies.
type ExplainTokenMatch struct {
	Outcome string             `json:"outcome"`
	Matched *ExplainCredential `json:"matched,omitempty"`
	Closest *ExplainCredential `json:"closest,omitempty"`
	Reason  string             `json:"reason,omitempty"`
}

// ExplainCredential names a federated credential as the token service
// matches it.
type ExplainCredential struct {
	Name                     string `json:"name"`
	Issuer                   string `json:"issuer"`
	Subject                  string `json:"subject,omitempty"`
	Audience                 string `json:"audience"`
	ClaimsMatchingExpression string `json:"claimsMatchingExpression,omitempty"`
}
