/** TOML for one `[[egress.source]]` named `name` on 127.0.0.<n>, HELO `<name>.mta.test`, plus extra keys. */
export function sourceToml(name: string, n: number, extra = ''): string {
  return `[[egress.source]]\nname = "${name}"\naddress = "127.0.0.${n}"\nhelo = "${name}.mta.test"\n${extra}`;
}
