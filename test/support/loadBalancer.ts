/**
 * nginx in front of two Huizhen nodes on loopback, configured from the very
 * template docker-compose's `cluster` profile uses
 * (deploy/nginx/huizhen-lb.conf.template).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitForPort } from './ports.ts';
import { ROOT } from './process.ts';

export interface LoadBalancer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface LoadBalancerOptions {
  dir: string;
  port: number;
  /** host:port of node n1 and node n2. */
  nodes: [string, string];
  certFile: string;
  keyFile: string;
  /** CA that issued the nodes' certificate, and the name it was issued for. */
  upstreamCa: string;
  upstreamTlsName: string;
}

/** Fills ${HUIZHEN_*} placeholders the way the nginx image's envsubst does (only names that are given). */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{(HUIZHEN_[A-Z0-9_]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

export async function startLoadBalancer(options: LoadBalancerOptions): Promise<LoadBalancer> {
  const template = fs.readFileSync(path.join(ROOT, 'deploy/nginx/huizhen-lb.conf.template'), 'utf8');
  const site = renderTemplate(template, {
    HUIZHEN_NODE1_ADDR: options.nodes[0],
    HUIZHEN_NODE2_ADDR: options.nodes[1],
    HUIZHEN_LB_LISTEN: `127.0.0.1:${options.port}`,
    HUIZHEN_LB_CERT: options.certFile,
    HUIZHEN_LB_KEY: options.keyFile,
    HUIZHEN_UPSTREAM_CA: options.upstreamCa,
    HUIZHEN_UPSTREAM_TLS_NAME: options.upstreamTlsName,
  });
  if (/\$\{HUIZHEN_/.test(site)) throw new Error('the load balancer template has a placeholder the test does not fill');
  fs.mkdirSync(options.dir, { recursive: true });
  fs.writeFileSync(path.join(options.dir, 'huizhen.conf'), site);
  // What the nginx image's own nginx.conf provides around conf.d/*.conf.
  fs.writeFileSync(
    path.join(options.dir, 'nginx.conf'),
    `worker_processes 1;
pid ${options.dir}/nginx.pid;
error_log ${options.dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${options.dir}/body;
  proxy_temp_path ${options.dir}/proxy;
  fastcgi_temp_path ${options.dir}/fastcgi;
  uwsgi_temp_path ${options.dir}/uwsgi;
  scgi_temp_path ${options.dir}/scgi;
  include ${options.dir}/huizhen.conf;
}
`,
  );
  const child: ChildProcess = spawn('nginx', ['-p', options.dir, '-c', path.join(options.dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<never>((_, reject) => child.once('exit', () => reject(new Error(`nginx exited: ${stderr}${fs.existsSync(path.join(options.dir, 'error.log')) ? fs.readFileSync(path.join(options.dir, 'error.log'), 'utf8') : ''}`))));
  exited.catch(() => undefined);
  await Promise.race([waitForPort(options.port, 10_000, 'nginx'), exited]);
  return {
    url: `https://127.0.0.1:${options.port}`,
    port: options.port,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
