/**
 * cli/examples — the "Examples:" section of every command's --help, and the "(required)"
 * mark on options that must be given. One table, so a test can hold every command to it:
 * a command without examples here is a failing test, not a silent gap. It never changes
 * what a command does, only what its help says.
 */
import type { Command } from 'commander';

export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  mta: ['mta start --config /etc/mta/mta.toml', 'mta status', 'mta queue list', 'mta log --rcpt bob@example.org'],
  start: ['mta start', 'mta start --config /etc/mta/mta.toml'],
  config: ['mta config check --config /etc/mta/mta.toml'],
  'config check': ['mta config check', 'mta config check --config ./mta.toml'],
  domain: ['mta domain add example.com', 'mta domain check example.com', 'mta domain list'],
  'domain add': ['mta domain add example.com', 'mta domain add example.com --dkim ed25519 --selector s1'],
  'domain list': ['mta domain list', 'mta domain list --json'],
  'domain show': ['mta domain show example.com', 'mta domain show example.com --json'],
  'domain dns': ['mta domain dns example.com', 'mta domain dns example.com --zone > example.com.zone'],
  'domain check': ['mta domain check example.com', 'mta domain check example.com --json'],
  'domain dkim-rotate': ['mta domain dkim-rotate example.com', 'mta domain dkim-rotate example.com --selector s2 --dkim ed25519'],
  'domain reputation': ['mta domain reputation example.com --level 10', 'mta domain reputation example.com --level 5 --reason "complaints"'],
  'domain remove': ['mta domain remove example.com'],
  sender: ['mta sender add app@example.com --password-stdin < password.txt', 'mta sender list'],
  'sender add': ['echo "a long password" | mta sender add app@example.com --password-stdin', 'mta sender add news@example.com --type batch --reply-to help@example.com'],
  'sender list': ['mta sender list', 'mta sender list --domain example.com --json'],
  'sender passwd': ['mta sender passwd app@example.com            # asks twice on a terminal', 'echo "a new password" | mta sender passwd app@example.com --password-stdin'],
  'sender disable': ['mta sender disable app@example.com'],
  'sender enable': ['mta sender enable app@example.com'],
  'sender remove': ['mta sender remove app@example.com'],
  'sender reply-to': ['mta sender reply-to set news@example.com help@example.com', 'mta sender list'],
  'sender reply-to set': ['mta sender reply-to set news@example.com help@example.com', 'mta sender reply-to set news@example.com help@example.com --json'],
  'sender reply-to resend': ['mta sender reply-to resend news@example.com'],
  'sender reply-to clear': ['mta sender reply-to clear news@example.com'],
  user: ['echo "a long password" | mta user add alice --role admin --password-stdin', 'mta user list'],
  'user add': ['mta user add alice --role admin            # asks twice on a terminal', 'echo "a long password" | mta user add bob --role viewer --password-stdin'],
  'user list': ['mta user list', 'mta user list --json'],
  'user passwd': ['mta user passwd alice', 'echo "a new password" | mta user passwd alice --password-stdin'],
  'user role': ['mta user role bob --role operator', 'mta user role bob --role viewer --json'],
  'user remove': ['mta user remove bob'],
  suppression: ['mta suppression add bob@example.org', 'mta suppression list --search example.org'],
  'suppression add': ['mta suppression add bob@example.org --reason "asked by phone"', 'mta suppression add bob@example.org --scope example.com'],
  'suppression list': ['mta suppression list', 'mta suppression list --search @example.org --since 2026-01-01 --json'],
  'suppression export': ['mta suppression export > suppressed.csv', 'mta suppression export --since 2026-01-01 --format csv'],
  'suppression import': ['mta suppression import suppressed.csv', 'mta suppression import addresses.txt --encoding gbk --json'],
  'suppression remove': ['mta suppression remove bob@example.org', 'mta suppression remove bob@example.org --scope example.com'],
  queue: ['mta queue list', 'mta queue summary', 'mta queue hold --domain example.org'],
  'queue list': ['mta queue list', 'mta queue list --all --limit 50', 'mta queue list --state deferred --domain example.org --json'],
  'queue show': ['mta queue show 01M8337DMG00AB2ATA', 'mta queue show 01M8337DMG00AB2ATA --json'],
  'queue cat': ['mta queue cat 01M8337DMG00AB2ATA', 'mta queue cat 01M8337DMG00AB2ATA --headers'],
  'queue summary': ['mta queue summary', 'mta queue summary --json'],
  'queue flush': ['mta queue flush', 'mta queue flush --domain example.org', 'mta queue flush 01M8337DMG00AB2ATA'],
  'queue hold': ['mta queue hold 01M8337DMG00AB2ATA', 'mta queue hold --domain example.org --state deferred'],
  'queue release': ['mta queue release 01M8337DMG00AB2ATA', 'mta queue release --sender app@example.com'],
  'queue delete': ['mta queue delete 01M8337DMG00AB2ATA', 'mta queue delete --domain example.org        # asks first on a terminal', 'mta queue delete --task T01M8337DMG00AB2ATA --yes'],
  'queue retry': ['mta queue retry 01M8337DMG00AB2ATA'],
  status: ['mta status', 'mta status --json'],
  doctor: ['mta doctor', 'mta doctor --probe gmail-smtp-in.l.google.com:25 --json'],
  webhook: ['mta webhook add https://app.example.com/mta-events', 'mta webhook log'],
  'webhook add': ['mta webhook add https://app.example.com/mta-events', 'mta webhook add https://x.example.com/hook --sender app@example.com --events delivered,failed --format form'],
  'webhook list': ['mta webhook list', 'mta webhook list --json'],
  'webhook remove': ['mta webhook remove 3'],
  'webhook test': ['mta webhook test 3'],
  'webhook log': ['mta webhook log', 'mta webhook log 3 --limit 20'],
  stats: ['mta stats', 'mta stats --from 2026-03-01 --to 2026-03-07 --by domain', 'mta stats --sender app@example.com --json', 'mta stats --by rcpt-domain --from 2026-03-01 --to 2026-03-07',
    'mta stats --tracking --by tag --from 2026-03-01 --to 2026-03-07', 'mta stats --tracking --task T01M8ZQ3X4K2B7C9D0E --json'],
  log: ['mta log --rcpt bob@example.org', 'mta log --rcpt @example.org --result failed --events', 'mta log --message-id "<abc@app.example.com>"', 'mta log --task T01HZX4K8M2Q --result failed'],
  list: ['mta list create news --alias news@lists.example.com', 'mta list import news members.csv'],
  'list create': ['mta list create news --alias news@lists.example.com --description "monthly news"'],
  'list import': ['mta list import news members.csv', 'mta list import news members.csv --encoding gbk --strict'],
  'list show': ['mta list show news', 'mta list show news --members 10 --json'],
  'list export': ['mta list export news > news.csv'],
  'list list': ['mta list list', 'mta list list --json'],
  'list remove': ['mta list remove news'],
  'list member': ['mta list member add news bob@example.org --var UserName=Bob', 'mta list member remove news bob@example.org'],
  'list member add': ['mta list member add news bob@example.org', 'mta list member add news bob@example.org --var UserName=Bob --var City=Berlin'],
  'list member update': ['mta list member update news bob@example.org --var City=Paris'],
  'list member remove': ['mta list member remove news bob@example.org'],
  egress: ['mta egress status'],
  'egress status': ['mta egress status', 'mta egress status --json'],
  cluster: ['mta cluster status'],
  'cluster status': ['mta cluster status', 'mta cluster status --json | jq \'.jobs[] | {job, leader}\''],
  backup: ['sudo -u mta mta backup /var/backups/mta/$(date +%F)', 'mta backup ./backup-today --json'],
  storage: ['mta storage migrate --to postgres --url-file /etc/mta/postgres.url --dry-run'],
  'storage migrate': ['systemctl stop mta && mta storage migrate --to postgres --url-file /etc/mta/postgres.url', 'mta storage migrate --to postgres --url postgres://mta@db.example.com/mta --dry-run --json'],
  tracking: ['sudo -u mta mta tracking rotate-key && sudo systemctl reload mta'],
  'tracking show': ['mta tracking show T01M8337DMG00AB2ATA', 'mta tracking show T01M8337DMG00AB2ATA --json'],
  'tracking rotate-key': ['sudo -u mta mta tracking rotate-key', 'mta tracking rotate-key --json'],
  tag: ['mta tag add spring.promo', 'mta tag list'],
  'tag add': ['mta tag add spring.promo --description "spring campaign"'],
  'tag list': ['mta tag list', 'mta tag list --json'],
  'tag remove': ['mta tag remove spring.promo'],
  template: ['mta template create welcome --subject "Welcome {UserName}" --html welcome.html', 'mta template approve welcome'],
  'template create': ['mta template create welcome --subject "Welcome {UserName}" --html welcome.html --text welcome.txt'],
  'template edit': ['mta template edit welcome --subject "Hello {UserName}"', 'mta template edit welcome --no-text'],
  'template show': ['mta template show welcome', 'mta template show welcome --json'],
  'template list': ['mta template list', 'mta template list --json'],
  'template approve': ['mta template approve welcome'],
  'template reject': ['mta template reject welcome --reason "missing unsubscribe text"'],
  'template render': ['mta template render welcome --vars \'{"UserName":"Ann"}\''],
  'template remove': ['mta template remove welcome'],
  task: ['mta task create --list news --template welcome --from news@example.com', 'mta task list'],
  'task create': ['mta task create --list news --template welcome --from news@example.com --tag spring.promo'],
  'task list': ['mta task list', 'mta task list --state sending --json'],
  'task show': ['mta task show T01M8337DMG00AB2ATA'],
  'task pause': ['mta task pause T01M8337DMG00AB2ATA'],
  'task resume': ['mta task resume T01M8337DMG00AB2ATA'],
  'task cancel': ['mta task cancel T01M8337DMG00AB2ATA'],
};

/** The command's path without the program name: `queue delete`, or `mta` for the root. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.length ? names.join(' ') : cmd.name();
}

/** Adds the Examples section and the (required) marks to `cmd` and every subcommand. */
export function addExamples(cmd: Command): void {
  const lines = EXAMPLES[commandPath(cmd)];
  if (lines) cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
  for (const o of cmd.options) {
    if (o.mandatory && !o.description.endsWith('(required)')) o.description = `${o.description} (required)`;
  }
  for (const sub of cmd.commands) addExamples(sub);
}
