/**
 * tracking/rules-data — the shipped rules that tell people from machines (tracking/
 * classify.ts reads them; `tracking.rules_file` replaces them with a JSON file of the same
 * shape). Data, not code: user agents are case-insensitive substrings, ranges CIDR blocks.
 * The address ranges are the ones the providers publish or are widely observed for their
 * proxies and gateways; they change, which is why a deployment can override them.
 */
export interface UaRule { contains: string; reason: string }
export interface RangeRule { cidr: string; reason: string }

export interface TrackingRules {
  /** opens fetched by privacy proxies and prefetchers, not by a person reading the mail */
  machineOpens: {
    userAgents: UaRule[];
    ranges: RangeRule[];
    /** an open this soon after the copy was handed over is a prefetch (0: off) */
    withinSecondsOfDelivery: number;
  };
  /** clicks made by security gateways that follow every link to check it */
  scannerClicks: {
    /** a HEAD request looks without asking for the page: no person's browser does that on a click */
    headRequests: boolean;
    userAgents: UaRule[];
    ranges: RangeRule[];
    /** a click on the hidden honeypot link marks the recipient's clicks this close to it (either side) */
    honeypotWindowSeconds: number;
    /** this many different links of one message from one address within `burstSeconds` is a scanner (0: off) */
    burstLinks: number;
    burstSeconds: number;
  };
}

export const DEFAULT_RULES: TrackingRules = {
  machineOpens: {
    userAgents: [
      { contains: 'GoogleImageProxy', reason: 'Gmail image proxy' },
      { contains: 'YahooMailProxy', reason: 'Yahoo Mail image proxy' },
      { contains: 'Outlook-iOS', reason: 'Outlook for iOS prefetch' },
    ],
    ranges: [
      { cidr: '17.0.0.0/8', reason: 'Apple Mail Privacy Protection (Apple address range)' },
      { cidr: '66.102.0.0/20', reason: 'Gmail image proxy (Google address range)' },
      { cidr: '66.249.80.0/20', reason: 'Gmail image proxy (Google address range)' },
      { cidr: '74.125.0.0/16', reason: 'Gmail image proxy (Google address range)' },
    ],
    withinSecondsOfDelivery: 10,
  },
  scannerClicks: {
    headRequests: true,
    userAgents: [
      { contains: 'Mimecast', reason: 'Mimecast URL protection' },
      { contains: 'Proofpoint', reason: 'Proofpoint URL defense' },
      { contains: 'Barracuda', reason: 'Barracuda link protection' },
      { contains: 'SafeLinks', reason: 'Microsoft Safe Links' },
      { contains: 'BingPreview', reason: 'Microsoft link preview' },
    ],
    ranges: [
      { cidr: '40.92.0.0/15', reason: 'Microsoft Safe Links (Exchange Online Protection range)' },
      { cidr: '40.107.0.0/16', reason: 'Microsoft Safe Links (Exchange Online Protection range)' },
      { cidr: '52.100.0.0/14', reason: 'Microsoft Safe Links (Exchange Online Protection range)' },
      { cidr: '104.47.0.0/17', reason: 'Microsoft Safe Links (Exchange Online Protection range)' },
      { cidr: '205.139.110.0/24', reason: 'Mimecast (Mimecast address range)' },
      { cidr: '207.211.30.0/24', reason: 'Mimecast (Mimecast address range)' },
      { cidr: '148.163.128.0/19', reason: 'Proofpoint (Proofpoint address range)' },
      { cidr: '67.231.144.0/20', reason: 'Proofpoint (Proofpoint address range)' },
      { cidr: '64.235.144.0/20', reason: 'Barracuda (Barracuda address range)' },
      { cidr: '209.222.80.0/21', reason: 'Barracuda (Barracuda address range)' },
    ],
    honeypotWindowSeconds: 10,
    burstLinks: 3,
    burstSeconds: 5,
  },
};
