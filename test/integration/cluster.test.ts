/**
 * Scale-out: two Huizhen processes on loopback sharing PostgreSQL, S3 and
 * Redis. A room lives on one node; a client that reached the other is sent
 * there; Redis losing its data is rebuilt from what the nodes host; a room
 * is never hosted twice; a node killed with SIGKILL costs its rooms a
 * reconnect and nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import type { JoinResult } from '../../server/protocol/room.ts';
import { startCluster, type NodeId, type TestCluster } from '../support/cluster.ts';
import { RequestFailed, RoomClient } from '../support/roomClient.ts';

describe('scale-out: several nodes on Redis', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let redis: Redis;
  let ca = '';
  const clients: RoomClient[] = [];

  async function client(node: NodeId, role: 'host' | 'expert' | 'patient', userId: string, roomId: string): Promise<RoomClient> {
    const { token } = cluster.token({ role, userId, roomId, displayName: userId });
    const c = await RoomClient.connectTo(cluster.nodes[node].directUrl, ca, token);
    clients.push(c);
    return c;
  }

  /** Joins through `node`, following a redirect the way the browser does; answers where it ended up. */
  async function enter(
    node: NodeId,
    role: 'host' | 'expert' | 'patient',
    userId: string,
    roomId: string,
  ): Promise<{ client: RoomClient; at: NodeId; first: JoinResult; joined: JoinResult }> {
    const c = await client(node, role, userId, roomId);
    const first = await c.join();
    if (first.status !== 'redirect') return { client: c, at: node, first, joined: first };
    const target = first.node.nodeId as NodeId;
    c.close();
    const there = await client(target, role, userId, roomId);
    const joined = await there.join();
    expect(joined.status, 'no second redirect').to.not.equal('redirect');
    return { client: there, at: target, first, joined };
  }

  async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Log lines reach the test through a pipe, a moment after the event they describe. */
  const logged = (node: NodeId, text: string) => until(`${node} to log "${text}"`, async () => cluster.nodes[node].logs().includes(text));

  before(async () => {
    cluster = await startCluster({ leaseSeconds: 3, loadBalancer: false });
    ca = fs.readFileSync(path.join(cluster.keysDir, 'dev-ca.crt.pem'), 'utf8');
    redis = cluster.redis.client();
    // Both nodes report themselves before anything is placed.
    await until('both node reports', async () => (await redis.smembers('huizhen:nodes')).length === 2);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await cluster?.close();
  });

  it('places a new room on the least-loaded node and sends a client that reached the other node there', async () => {
    // An idle cluster: the first room goes to n1 (ties go to the node id).
    const a = await enter('n1', 'host', 'dr-li', 'visit-a');
    expect(a.at).to.equal('n1');
    expect(a.first.status).to.equal('admitted');
    expect(await redis.get('huizhen:room:visit-a')).to.equal('n1|hosted');

    // n1 now hosts a room: the next new room goes to n2, even when asked through n1.
    const b = await enter('n1', 'host', 'dr-zhang', 'visit-b');
    expect(b.first.status).to.equal('redirect');
    expect(b.first.status === 'redirect' && b.first.node).to.deep.equal({ nodeId: 'n2', url: cluster.nodes.n2.directUrl });
    expect(b.at).to.equal('n2');
    expect(await redis.get('huizhen:room:visit-b')).to.equal('n2|hosted');

    // Someone entering visit-a through n2 is sent to n1 and meets the host in its lobby.
    const patient = await enter('n2', 'patient', 'pt-wang', 'visit-a');
    expect(patient.first.status).to.equal('redirect');
    expect(patient.at).to.equal('n1');
    const lobby = await a.client.waitFor('room:lobby', (entries) => entries.some((e) => e.userId === 'pt-wang'));
    await a.client.request('room:admit', { peerId: lobby.find((e) => e.userId === 'pt-wang')!.peerId });
    const admitted = await patient.client.waitFor('room:admitted');
    expect(admitted.peers.map((p) => p.userId)).to.deep.equal(['dr-li']);
    await logged('n2', 'room lives on another node; redirecting');
  });

  it('rebuilds the registry from what the nodes host when Redis restarts empty, and hosts no room twice', async () => {
    const host = await enter('n1', 'host', 'dr-li', 'visit-r');
    const home = host.at;
    const away: NodeId = home === 'n1' ? 'n2' : 'n1';
    const patient = await enter(home, 'patient', 'pt-zhou', 'visit-r');
    const lobby = await host.client.waitFor('room:lobby', (e) => e.length > 0);
    await host.client.request('room:admit', { peerId: lobby[0]!.peerId });
    const admitted = await patient.client.waitFor('room:admitted');

    await redis.set('huizhen:test:sentinel', 'before');
    await cluster.redis.restart();
    expect(await until('redis back', async () => (await redis.ping().catch(() => null)) === 'PONG')).to.equal(true);
    expect(await redis.get('huizhen:test:sentinel'), 'Redis came back empty').to.equal(null);

    // Each node takes its leases again, republishes who it admitted, and reports itself.
    await until('visit-r leased to its node again', async () => (await redis.get('huizhen:room:visit-r').catch(() => null)) === `${home}|hosted`);
    await until('both reports back', async () => (await redis.smembers('huizhen:nodes').catch(() => [])).length === 2);
    await until('admissions republished', async () => (await redis.hget('huizhen:admissions:visit-r', admitted.self.peerId).catch(() => null)) !== null);
    await logged(home, 'cluster registry rebuilt from the rooms this node hosts');

    // The room is still where it was: a newcomer through the other node is sent there, not given a second copy.
    const expert = await enter(away, 'expert', 'dr-zhao', 'visit-r');
    expect(expert.first.status).to.equal('redirect');
    expect(expert.at).to.equal(home);
    // The participants never noticed.
    expect(host.client.received['room:closed'] ?? []).to.deep.equal([]);
    expect(patient.client.received['room:peerLeft'] ?? []).to.deep.equal([]);
  });

  it('closes its copy of a room when another node holds the lease (never two copies)', async () => {
    const host = await enter('n1', 'host', 'dr-wu', 'visit-f');
    const other: NodeId = host.at === 'n1' ? 'n2' : 'n1';
    // A split brain, made by hand: the lease now names the other node.
    await redis.set('huizhen:room:visit-f', `${other}|hosted`, 'PX', 10_000);
    const closed = await host.client.waitFor('room:closed', () => true, 10_000);
    expect(closed).to.deep.equal({ reason: 'room_moved' });
    await logged(host.at, 'another node holds this room; closing the copy here');
    // The browser would go back to the entry: the room is where the lease says.
    const again = await enter(host.at, 'host', 'dr-wu', 'visit-f');
    expect(again.at).to.equal(other);
  });

  it('refuses to place rooms while Redis is unreachable (coded error), and keeps serving the rooms it hosts', async () => {
    const host = await enter('n1', 'host', 'dr-sun', 'visit-o');
    const hostNode = host.at;
    const other: NodeId = hostNode === 'n1' ? 'n2' : 'n1';
    await cluster.redis.kill();
    try {
      // Nobody can know where a room lives now: no node opens one on a guess.
      const newcomer = await client(other, 'host', 'dr-qian', 'visit-new');
      const refused = await newcomer.attempt('room:join', {});
      expect(refused.ok).to.equal(false);
      expect(!refused.ok && refused.error.code).to.equal('SERVICE_UNAVAILABLE');
      // A room already open keeps working through the outage.
      const message = await host.client.request('chat:send', { text: '仍在会诊' });
      expect(message.text).to.equal('仍在会诊');
    } finally {
      await cluster.redis.start();
    }
    await until('the lease back on its node', async () => (await redis.get('huizhen:room:visit-o').catch(() => null)) === `${hostNode}|hosted`);
  });

  it('moves the rooms of a node killed with SIGKILL: participants re-enter on the other node as themselves, without the lobby', async () => {
    const host = await enter('n1', 'host', 'dr-li', 'visit-k');
    const lost = host.at;
    const survivor: NodeId = lost === 'n1' ? 'n2' : 'n1';
    const patient = await enter(survivor, 'patient', 'pt-wang', 'visit-k');
    expect(patient.at, 'both on the node that hosts the room').to.equal(lost);
    const lobby = await host.client.waitFor('room:lobby', (e) => e.length > 0);
    await host.client.request('room:admit', { peerId: lobby[0]!.peerId });
    const patientState = await patient.client.waitFor('room:admitted');
    const hostState = host.joined.status === 'admitted' ? host.joined : null;
    expect(hostState).to.not.equal(null);

    const killedAt = Date.now();
    await cluster.nodes[lost].kill9();

    // Both come back through the surviving node with their resume tokens.
    const resume = async (userId: string, role: 'host' | 'patient', state: { self: { peerId: string }; resumeToken: string }) =>
      until(`${userId} back in the room`, async () => {
        const c = await client(survivor, role, userId, 'visit-k');
        try {
          const r = await c.join({ peerId: state.self.peerId, resumeToken: state.resumeToken });
          if (r.status === 'redirect') {
            c.close();
            return null; // still pointed at the dead node: its lease has not lapsed
          }
          return { c, r };
        } catch (err) {
          c.close();
          if (err instanceof RequestFailed && (err.code === 'ROOM_RELOCATING' || err.code === 'SERVICE_UNAVAILABLE')) return null;
          throw err;
        }
      }, (cluster.leaseSeconds + 15) * 1000);
    const hostBack = await resume('dr-li', 'host', hostState!);
    const patientBack = await resume('pt-wang', 'patient', patientState);
    const movedAfterMs = Date.now() - killedAt;

    expect(hostBack.r.status).to.equal('admitted');
    expect(patientBack.r.status, 'the patient re-enters without waiting in the lobby').to.equal('admitted');
    if (hostBack.r.status !== 'admitted' || patientBack.r.status !== 'admitted') return;
    expect(hostBack.r.self.peerId, 'same participant').to.equal(hostState!.self.peerId);
    expect(patientBack.r.self.peerId).to.equal(patientState.self.peerId);
    expect(patientBack.r.peers.map((p) => p.userId)).to.deep.equal(['dr-li']);
    expect(await redis.get('huizhen:room:visit-k')).to.equal(`${survivor}|hosted`);
    console.log(`      (room back on ${survivor} ${movedAfterMs} ms after ${lost} was killed; lease ${cluster.leaseSeconds} s)`);
    // A stale token proves nothing: the old resume token is single-use.
    const thief = await client(survivor, 'patient', 'pt-wang', 'visit-k');
    const stolen = await thief.attempt('room:join', { resume: { peerId: patientState.self.peerId, resumeToken: patientState.resumeToken } });
    expect(stolen.ok).to.equal(false);
    // The lost node comes back as a node like any other.
    await cluster.nodes[lost].start();
  });
});
