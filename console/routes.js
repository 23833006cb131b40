// console/routes — the console's pages, in navigation order. A page is a module under
// pages/ exporting its component; `title` names it in the navigation in both languages and
// `words` adds the strings only that page uses (merged over i18n.js's shared ones).
// Adding a page is one entry here.
import * as overview from './pages/overview.js';
import { DOMAIN_WORDS, Domains } from './pages/domains.js';
import { SENDER_WORDS, Senders } from './pages/senders.js';
import { TAG_WORDS, Tags } from './pages/tags.js';
import { TEMPLATE_WORDS, Templates } from './pages/templates.js';
import { SUPPRESSION_WORDS, Suppression } from './pages/suppression.js';
import { WEBHOOK_WORDS, Webhooks } from './pages/webhooks.js';
import { USER_WORDS, Users } from './pages/users.js';
import { SETTINGS_WORDS, Settings } from './pages/settings.js';
import * as send from './pages/send.js';
import * as sends from './pages/sends.js';
import * as stats from './pages/stats.js';
import * as queue from './pages/queue.js';
import * as lists from './pages/lists.js';
import * as tasks from './pages/tasks.js';

export const ROUTES = [
  { path: 'overview', page: overview.Overview, words: overview.words, title: { en: 'Overview', zh: '概览' } },
  { path: 'domains', page: Domains, words: DOMAIN_WORDS, title: { en: 'Domains', zh: '发信域名' } },
  { path: 'senders', page: Senders, words: SENDER_WORDS, title: { en: 'Senders', zh: '发信地址' } },
  { path: 'tags', page: Tags, words: TAG_WORDS, title: { en: 'Tags', zh: '邮件标签' } },
  { path: 'templates', page: Templates, words: TEMPLATE_WORDS, title: { en: 'Templates', zh: '邮件模板' } },
  { path: 'send', page: send.Send, words: send.words, title: { en: 'Send', zh: '发送' } },
  { path: 'sends', page: sends.Sends, words: sends.words, title: { en: 'Send details', zh: '发送详情' } },
  { path: 'stats', page: stats.Stats, words: stats.words, title: { en: 'Statistics', zh: '数据统计' } },
  { path: 'lists', page: lists.Lists, words: lists.words, title: { en: 'Lists', zh: '收件人列表' } },
  { path: 'tasks', page: tasks.Tasks, words: tasks.words, title: { en: 'Tasks', zh: '批量任务' } },
  { path: 'suppression', page: Suppression, words: SUPPRESSION_WORDS, title: { en: 'Suppression', zh: '无效地址' } },
  { path: 'webhooks', page: Webhooks, words: WEBHOOK_WORDS, title: { en: 'Webhooks', zh: '事件通知' } },
  { path: 'queue', page: queue.Queue, words: queue.words, title: { en: 'Queue', zh: '队列' } },
  { path: 'users', page: Users, words: USER_WORDS, title: { en: 'Users', zh: '用户' } },
  { path: 'settings', page: Settings, words: SETTINGS_WORDS, title: { en: 'Settings', zh: '设置' } },
];
