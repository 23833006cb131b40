// console/routes — the console's pages, in navigation order. A page is a module under
// pages/ exporting its component; `title` names it in the navigation in both languages and
// `words` adds the strings only that page uses (merged over i18n.js's shared ones).
// Adding a page is one entry here.
import { Overview } from './pages/overview.js';
import { DOMAIN_WORDS, Domains } from './pages/domains.js';
import { SENDER_WORDS, Senders } from './pages/senders.js';
import { TAG_WORDS, Tags } from './pages/tags.js';
import { TEMPLATE_WORDS, Templates } from './pages/templates.js';
import { SUPPRESSION_WORDS, Suppression } from './pages/suppression.js';
import { WEBHOOK_WORDS, Webhooks } from './pages/webhooks.js';
import { USER_WORDS, Users } from './pages/users.js';
import { SETTINGS_WORDS, Settings } from './pages/settings.js';

export const ROUTES = [
  { path: 'overview', page: Overview, title: { en: 'Overview', zh: '概览' } },
  { path: 'domains', page: Domains, words: DOMAIN_WORDS, title: { en: 'Domains', zh: '发信域名' } },
  { path: 'senders', page: Senders, words: SENDER_WORDS, title: { en: 'Senders', zh: '发信地址' } },
  { path: 'tags', page: Tags, words: TAG_WORDS, title: { en: 'Tags', zh: '邮件标签' } },
  { path: 'templates', page: Templates, words: TEMPLATE_WORDS, title: { en: 'Templates', zh: '邮件模板' } },
  { path: 'suppression', page: Suppression, words: SUPPRESSION_WORDS, title: { en: 'Suppression', zh: '无效地址' } },
  { path: 'webhooks', page: Webhooks, words: WEBHOOK_WORDS, title: { en: 'Webhooks', zh: '事件通知' } },
  { path: 'users', page: Users, words: USER_WORDS, title: { en: 'Users', zh: '用户' } },
  { path: 'settings', page: Settings, words: SETTINGS_WORDS, title: { en: 'Settings', zh: '设置' } },
];
