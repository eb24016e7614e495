// Package expression implements version 1 of Microsoft Entra's claims-matching
// expression language for flexible federated identity credentials: a strict
// parser into a validated [Expression] and a pure matcher over already-verified
// token claims.
//
// The grammar, in EBNF (the space " " is exactly one U+0020; keywords are
// lower-case; nothing may precede the first clause or follow the last):
//
//	expression  = clause { " and " clause } ;
//	clause      = "claims[" quoted-name "] " operator " " quoted ;
//	operator    = "matches" | "eq" ;
//	quoted-name = "'" name-char { name-char } "'" ;
//	name-char   = "A"…"Z" | "a"…"z" | "0"…"9" | "_" | "." | ":" | "-" | "''" ;
//	quoted      = "'" { char - "'" | "''" } "'" ;
//	char        = (* any Unicode character except a control character *) ;
//
// The single quote is the escape character: inside quotes, two single quotes
// in a row stand for one literal single quote. The operator eq is exact, case-sensitive string equality.
// The operator matches treats "*" as any run of characters (including none,
// and including ":" and "/", so 'system:serviceaccount:team-*:app' also
// matches "system:serviceaccount:team-a:b:app") and "?" as exactly one
// character (one Unicode code point); every other
// character, including "\", is literal, and there is no way to match a
// literal "*" or "?" other than with a wildcard. An empty comparand is
// allowed and matches only the empty string.
//
// Further limits: an expression is valid UTF-8 without control characters,
// at most [MaxLength] characters long and has at most [MaxClauses] clauses,
// and the pattern of each matches clause has at most [MaxWildcards]
// wildcards. Matching takes time linear in the claim's length (see
// [Wildcard]).
// Clauses are joined with logical AND; several clauses may name the same
// claim. A claim that is missing or not a string fails its clause.
//
// Example:
//
//	claims['sub'] matches 'system:serviceaccount:team-*:app'
package expression
