/**
 * util/qp — quoted-printable text that cannot hold a MIME boundary: a `-` at the start of
 * an encoded line becomes `=2D` (the same octet, RFC 2045 §6.7 rule 1), so no line of the
 * encoded body begins with `--`, whatever text was encoded (a boundary delimiter line must).
 */

/** `encoded` (quoted-printable, any line ends) with every line-leading `-` written `=2D`. */
export function escapeLeadingDash(encoded: string): string {
  return encoded.replace(/(^|\n)-/g, '$1=2D');
}
