// console/routes — the console's pages, in navigation order. A page is a module under
// pages/ exporting its component; `title` names it in the navigation in both languages and
// `words` adds the strings only that page uses (merged over i18n.js's shared ones).
// Adding a page is one entry here.
import * as overview from './pages/overview.js';
import * as send from './pages/send.js';
import * as sends from './pages/sends.js';
import * as stats from './pages/stats.js';
import * as queue from './pages/queue.js';
import * as lists from './pages/lists.js';
import * as tasks from './pages/tasks.js';

export const ROUTES = [
  { path: 'overview', page: overview.Overview, words: overview.words, title: { en: 'Overview', zh: '概览' } },
  { path: 'send', page: send.Send, words: send.words, title: { en: 'Send', zh: '发送' } },
  { path: 'sends', page: sends.Sends, words: sends.words, title: { en: 'Send details', zh: '发送详情' } },
  { path: 'stats', page: stats.Stats, words: stats.words, title: { en: 'Statistics', zh: '数据统计' } },
  { path: 'queue', page: queue.Queue, words: queue.words, title: { en: 'Queue', zh: '队列' } },
  { path: 'lists', page: lists.Lists, words: lists.words, title: { en: 'Lists', zh: '收件人列表' } },
  { path: 'tasks', page: tasks.Tasks, words: tasks.words, title: { en: 'Tasks', zh: '批量任务' } },
];
