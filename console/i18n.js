// console/i18n — the console's words in English and Chinese. The first language is the
// one the server picked from Accept-Language (<html lang>); a choice made in the console
// is kept in localStorage and wins from then on. A page's own words live beside it
// (routes.js `words`); these are the shared ones.
export const STRINGS = {
  en: {
    title: 'mta console', signIn: 'Sign in', signOut: 'Sign out', name: 'User name', password: 'Password',
    wrong: 'Wrong user name or password.', throttled: 'Too many attempts. Wait a minute and try again.',
    overview: 'Overview', queue: 'Queue', today: 'Today', last7: 'Last 7 days', sent: 'Sent', delivered: 'Delivered',
    failed: 'Failed', deferred: 'Deferred', invalid: 'Invalid', queueDepth: 'Queue depth by state', state: 'State', count: 'Recipients',
    emptyTitle: 'Nothing here yet', emptyQueue: 'The queue is empty: every message has been handled.',
    emptyStats: 'No mail in this period. Send some through SMTP or the send API and it shows up here.',
    loading: 'Loading…', error: 'Something went wrong', signedInAs: 'Signed in as', language: 'Language',
    forbidden: 'Your role does not allow this.', flush: 'Retry deferred mail now', done: 'Done',
  },
  zh: {
    title: 'mta 控制台', signIn: '登录', signOut: '退出登录', name: '用户名', password: '密码',
    wrong: '用户名或密码错误。', throttled: '尝试次数过多，请一分钟后再试。',
    overview: '概览', queue: '队列', today: '今天', last7: '最近 7 天', sent: '发送', delivered: '已送达',
    failed: '失败', deferred: '延迟', invalid: '无效', queueDepth: '各状态队列深度', state: '状态', count: '收件人数',
    emptyTitle: '暂无内容', emptyQueue: '队列为空：所有邮件都已处理。',
    emptyStats: '此期间没有邮件。通过 SMTP 或发送 API 发信后会显示在这里。',
    loading: '加载中…', error: '出错了', signedInAs: '当前用户', language: '语言',
    forbidden: '您的角色无权执行此操作。', flush: '立即重试延迟邮件', done: '完成',
  },
};

/** The strings for `lang`: the shared ones with the page's own words over them. */
export function wordsFor(lang, route) {
  return { ...STRINGS[lang], ...(route?.words?.[lang] ?? {}) };
}

export function initialLanguage() {
  const saved = globalThis.localStorage?.getItem('mta.lang');
  if (saved && STRINGS[saved]) return saved;
  return document.documentElement.lang === 'zh' ? 'zh' : 'en';
}
