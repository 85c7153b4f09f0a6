/**
 * The consultation room page: device pre-test and "enter", the lobby wait,
 * the room itself (tiles, controls, participants and lobby admission for
 * the host, chat, recording and network indicators), and the screens for
 * every way a visit can end for this person.
 */
import { markFirstFrame } from '../room/timing.ts';
import type { ChatMessage, LobbyEntry, PeerInfo, PeerLeaveReason, RoomCloseReason } from '../../../server/protocol/room.ts';
import type { DisconnectReason } from '../../../server/protocol/socketEvents.ts';
import { api, serverInfo, session, visitSession, type StoredSession, type VisitSession } from '../api.ts';
import { SENSITIVE_CATEGORIES, categoryName, currentLang, roleName, t } from '../i18n.ts';
import { devicePicker, type DevicePicker } from '../media/devicePicker.ts';
import { RoomSession } from '../room/RoomSession.ts';
import { prescriptionPanel } from '../room/prescriptionPanel.ts';
import { AudioSink, Tile, tileKey } from '../room/tiles.ts';
import { errorMessage, h, layout, mount, notice } from '../ui.ts';

type Ending =
  | { kind: 'closed'; reason: RoomCloseReason }
  | { kind: 'left'; reason: PeerLeaveReason }
  | { kind: 'denied' }
  | { kind: 'disconnected'; reason: DisconnectReason };

/** The consultation a visit session belongs to (null in ad-hoc rooms entered with a room token). */
function visitOf(who: StoredSession): string | null {
  return (who as Partial<VisitSession>).consultationId ?? null;
}

/** Where "back" goes: the consultation of a visit, otherwise home. */
function backHref(who: StoredSession): string {
  const id = visitOf(who);
  return id ? `/consultation?id=${encodeURIComponent(id)}` : '/';
}

/** A visit token for the consultation, minted with the staff session (the staff session itself is left as it is). */
async function fetchVisit(consultationId: string): Promise<VisitSession> {
  const staff = session.get();
  const r = await api<{ token: string; expiresAt: number; roomId: string; role: 'host' | 'expert'; displayName: string }>(
    'POST',
    `/api/consultations/${encodeURIComponent(consultationId)}/visit-token`,
  );
  const visit: VisitSession = { token: r.token, expiresAt: r.expiresAt, userId: staff?.userId ?? '', role: r.role, displayName: r.displayName, roomId: r.roomId, consultationId };
  visitSession.set(visit);
  return visit;
}

export function roomPage(): void {
  // A consultation visit (`/room?consultation=…`): the visit token from the
  // consultation page, or a fresh one (after a reload, or once it expired).
  const consultationId = new URLSearchParams(location.search).get('consultation');
  if (consultationId) {
    const back = h('a', { class: 'button secondary', href: `/consultation?id=${encodeURIComponent(consultationId)}` }, t('backToConsultation'));
    const stored = visitSession.get(consultationId);
    if (stored) {
      joinScreen(stored);
      return;
    }
    if (!session.get()) {
      mount(layout(t('room'), notice('error', t('needLogin'))));
      return;
    }
    mount(layout(t('room'), h('p', { class: 'muted' }, t('loading'))));
    fetchVisit(consultationId).then(joinScreen, (err: unknown) => mount(layout(t('room'), notice('error', errorMessage(err)), h('p', {}, back))));
    return;
  }
  const who = session.get();
  if (!who) {
    mount(layout(t('room'), notice('error', t('needLogin'))));
    return;
  }
  if (!who.roomId) {
    mount(layout(t('room'), notice('error', t('noRoomInToken'))));
    return;
  }
  joinScreen(who);
}

// --- 1. Device pre-test and enter ------------------------------------------------

function joinScreen(who: StoredSession): void {
  const picker = devicePicker({ testidPrefix: 'join-' });
  const messages = h('div', { class: 'messages', 'aria-live': 'polite' });
  const joinButton = h('button', { type: 'button', class: 'primary big', 'data-testid': 'join-room' }, t('joinRoom'));
  mount(
    layout(
      t('room'),
      h('p', { class: 'intro' }, t('roomIntro')),
      h(
        'p',
        { class: 'room-who' },
        `${t('roomLabel')}：${who.roomId}　${t('signedInAs')}：${who.displayName ?? who.userId}（${roleName(who.role)}）`,
        visitOf(who) ? h('a', { href: backHref(who), class: 'room-consultation-link' }, t('backToConsultation')) : null,
      ),
      messages,
      h(
        'section',
        { class: 'join' },
        h('div', { class: 'panel' }, picker.element, h('div', { class: 'buttons' }, joinButton), h('a', { href: '/selftest' }, t('selfTest'))),
        h('figure', { class: 'join-preview' }, picker.preview, h('figcaption', {}, t('localPreview'))),
      ),
    ),
  );
  picker.start().catch((err: unknown) => messages.replaceChildren(notice('error', errorMessage(err))));

  joinButton.addEventListener('click', () => {
    joinButton.disabled = true;
    joinButton.textContent = t('joining');
    const roomSession = new RoomSession(who.token);
    roomSession
      .join()
      .then((result) => {
        if (result.status === 'admitted') roomScreen(who, roomSession, picker);
        else waitingScreen(who, roomSession, picker, result.hostPresent);
      })
      .catch((err: unknown) => {
        void roomSession.close({ leave: false });
        messages.replaceChildren(notice('error', errorMessage(err)));
        joinButton.disabled = false;
        joinButton.textContent = t('joinRoom');
      });
  });
}

// --- 2. The lobby ------------------------------------------------------------------

function waitingScreen(who: StoredSession, roomSession: RoomSession, picker: DevicePicker, hostPresent: boolean): void {
  const cancel = h('button', { type: 'button' }, t('cancel'));
  mount(
    layout(
      t('room'),
      h(
        'section',
        { class: 'panel waiting', 'data-testid': 'waiting' },
        h('p', { class: 'waiting-title' }, t('waitingForAdmission')),
        hostPresent ? null : h('p', { class: 'muted' }, t('waitingNoHost')),
        h('figure', { class: 'join-preview small' }, picker.preview),
        cancel,
      ),
    ),
  );
  cancel.addEventListener('click', () => {
    void roomSession.close();
    picker.stop();
    location.assign(backHref(who));
  });
  let admitted = false;
  roomSession.on('room:admitted', () => {
    admitted = true;
    roomScreen(who, roomSession, picker);
  });
  // While waiting (the room screen registers its own handlers once admitted).
  const stillWaiting = () => !admitted;
  roomSession.on('room:denied', () => stillWaiting() && endingScreen(roomSession, picker, { kind: 'denied' }, who));
  roomSession.on('room:peerLeft', ({ reason }) => stillWaiting() && endingScreen(roomSession, picker, { kind: 'left', reason }, who));
  roomSession.on('resumeFailed', () => stillWaiting() && endingScreen(roomSession, picker, { kind: 'left', reason: 'connection_lost' }, who));
  roomSession.on('session:closing', ({ reason }) => stillWaiting() && endingScreen(roomSession, picker, { kind: 'disconnected', reason }, who));
}

// --- 3. The room -------------------------------------------------------------------

function roomScreen(who: StoredSession, roomSession: RoomSession, picker: DevicePicker): void {
  const state = roomSession.state;
  if (!state) return;
  const selfId = state.self.peerId;
  const caps = state.capabilities;
  const peers = new Map<string, PeerInfo>(state.peers.map((p) => [p.peerId, p]));
  const tiles = new Map<string, Tile>();
  const audio = new AudioSink();
  const consumerTile = new Map<string, Tile>();
  let ended = false;

  // Header: room, recording, connection.
  const recording = h('span', { class: 'recording', 'data-testid': 'recording', 'data-state': state.recording.state });
  const connection = h('span', { class: 'connection', 'data-testid': 'connection' });
  const banner = h('div', { class: 'banner', 'aria-live': 'polite' });
  const setRecording = (on: boolean) => {
    recording.dataset['state'] = on ? 'recording' : 'off';
    recording.textContent = on ? `● ${t('recordingOn')}` : t('recordingOff');
  };
  setRecording(state.recording.state === 'recording');

  // Stage.
  const stage = h('section', { class: 'stage', 'data-testid': 'stage' });
  const addTile = (peerId: string, source: 'camera' | 'screen', info: { displayName: string | null; userId: string; role: PeerInfo['role'] }): Tile => {
    const key = tileKey(peerId, source);
    let tile = tiles.get(key);
    if (!tile) {
      tile = new Tile({ peerId, userId: info.userId, source, displayName: info.displayName ?? info.userId, role: info.role, self: peerId === selfId });
      tiles.set(key, tile);
      if (source === 'screen') stage.prepend(tile.element);
      else stage.append(tile.element);
    }
    return tile;
  };
  const removeTile = (key: string) => {
    tiles.get(key)?.element.remove();
    tiles.delete(key);
  };

  const selfTile = addTile(selfId, 'camera', { displayName: who.displayName, userId: who.userId, role: state.self.role });
  const localVideo = picker.stream()?.getVideoTracks()[0];
  if (localVideo && caps.produce.includes('camera')) selfTile.attach(localVideo, null);
  for (const peer of peers.values()) {
    const tile = addTile(peer.peerId, 'camera', peer);
    tile.setMicMuted(peer.producers.find((p) => p.source === 'mic')?.paused ?? true);
    tile.setQuality(peer.networkQuality);
  }

  // Participants and lobby.
  const participantList = h('ul', { class: 'participants', 'data-testid': 'participants' });
  const lobbyList = h('ul', { class: 'lobby', 'data-testid': 'lobby' });
  const renderParticipants = () => {
    const rows = [{ ...state.self, self: true }, ...[...peers.values()].map((p) => ({ ...p, self: false }))].map((p) =>
      h(
        'li',
        { 'data-peer-id': p.peerId },
        h('span', { class: 'name' }, `${p.displayName ?? p.userId}${p.self ? `（${t('you')}）` : ''}`),
        h('span', { class: 'role' }, roleName(p.role)),
        caps.remove && !p.self
          ? h(
              'button',
              {
                type: 'button',
                class: 'small danger',
                'data-testid': `remove-${p.userId}`,
                onclick: () => {
                  if (confirm(t('removeConfirm'))) void roomSession.remove(p.peerId).catch(showError);
                },
              },
              t('remove'),
            )
          : null,
      ),
    );
    participantList.replaceChildren(...rows);
  };
  const renderLobby = (entries: LobbyEntry[]) => {
    lobbyList.replaceChildren(
      ...(entries.length === 0
        ? [h('li', { class: 'muted' }, t('nobodyWaiting'))]
        : entries.map((e) =>
            h(
              'li',
              { 'data-peer-id': e.peerId, 'data-testid': `lobby-${e.userId}` },
              h('span', { class: 'name' }, e.displayName ?? e.userId),
              h('span', { class: 'role' }, roleName(e.role)),
              h('button', { type: 'button', class: 'small primary', 'data-testid': `admit-${e.userId}`, onclick: () => void roomSession.admit(e.peerId).catch(showError) }, t('admit')),
              h('button', { type: 'button', class: 'small', onclick: () => void roomSession.deny(e.peerId).catch(showError) }, t('deny')),
            ),
          )),
    );
    lobbyHeading.textContent = `${t('lobby')}（${entries.length}）`;
    lobbyHeading.classList.toggle('attention', entries.length > 0);
  };
  const lobbyHeading = h('h3', {}, t('lobby'));
  renderParticipants();
  if (caps.admit) renderLobby(state.lobby);

  // Chat.
  const chatList = h('ol', { class: 'chat-list', 'data-testid': 'chat-list' });
  const chatInput = h('input', { type: 'text', maxlength: 2000, placeholder: t('chatPlaceholder'), 'data-testid': 'chat-input', 'aria-label': t('chat') });
  const chatForm = h('form', { class: 'chat-form' }, chatInput, h('button', { type: 'submit', 'data-testid': 'chat-send' }, t('send')));
  const seen = new Set<number>();
  const addChat = (m: ChatMessage) => {
    if (seen.has(m.seq)) return;
    seen.add(m.seq);
    const time = new Date(m.sentAt).toLocaleTimeString(currentLang(), { hour: '2-digit', minute: '2-digit' });
    chatList.append(
      h(
        'li',
        { 'data-seq': m.seq, class: m.userId === who.userId ? 'mine' : '' },
        h('span', { class: 'meta' }, `${m.displayName ?? m.userId} · ${roleName(m.role)} · ${time}`),
        h('span', { class: 'text' }, m.text),
      ),
    );
    chatList.scrollTop = chatList.scrollHeight;
  };
  state.chat.forEach(addChat);
  if (!caps.chat) chatForm.hidden = true;
  chatForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    chatInput.value = '';
    roomSession.sendChat(text).then(addChat, showError);
  });

  // Controls.
  const micButton = h('button', { type: 'button', class: 'control', 'data-testid': 'toggle-mic' });
  const camButton = h('button', { type: 'button', class: 'control', 'data-testid': 'toggle-camera' });
  const screenButton = h('button', { type: 'button', class: 'control', 'data-testid': 'toggle-screen' }, t('shareScreen'));
  const leaveButton = h('button', { type: 'button', class: 'control danger', 'data-testid': 'leave' }, t('leave'));
  // In a consultation visit this ends the video only; the expert completes the consultation itself on its page.
  const endButton = h('button', { type: 'button', class: 'control danger', 'data-testid': 'end-visit' }, visitOf(who) ? t('endVideo') : t('endVisit'));
  const refreshControls = () => {
    // Not sending yet (still starting): shown as on, as it is about to be.
    const micMuted = roomSession.sending('mic') && roomSession.isMuted('mic');
    const camOff = roomSession.sending('camera') && roomSession.isMuted('camera');
    micButton.textContent = micMuted ? t('unmute') : t('mute');
    micButton.classList.toggle('off', micMuted);
    camButton.textContent = camOff ? t('cameraOn') : t('cameraOff');
    camButton.classList.toggle('off', camOff);
    screenButton.textContent = roomSession.sending('screen') ? t('stopShare') : t('shareScreen');
    selfTile.setMicMuted(micMuted);
    selfTile.showVideo(!camOff);
  };
  micButton.hidden = !caps.produce.includes('mic');
  camButton.hidden = !caps.produce.includes('camera');
  screenButton.hidden = !caps.produce.includes('screen');
  endButton.hidden = !caps.endVisit;
  refreshControls();
  micButton.addEventListener('click', () => {
    void roomSession.setMuted('mic', !roomSession.isMuted('mic')).then(refreshControls, showError);
  });
  camButton.addEventListener('click', () => {
    void roomSession.setMuted('camera', !roomSession.isMuted('camera')).then(refreshControls, showError);
  });
  screenButton.addEventListener('click', () => {
    const action = roomSession.sending('screen')
      ? roomSession.stopScreenShare().then(() => removeTile(tileKey(selfId, 'screen')))
      : roomSession.startScreenShare().then((track) => {
          addTile(selfId, 'screen', { displayName: who.displayName, userId: who.userId, role: state.self.role }).attach(track, null);
          track.addEventListener('ended', () => {
            removeTile(tileKey(selfId, 'screen'));
            refreshControls();
          });
        });
    void action.then(refreshControls, showError);
  });
  leaveButton.addEventListener('click', () => {
    void roomSession.close().then(() => endingScreen(roomSession, picker, { kind: 'left', reason: 'left' }, who));
  });
  endButton.addEventListener('click', () => {
    if (confirm(visitOf(who) ? t('endVideoConfirm') : t('endVisitConfirm'))) void roomSession.end().catch(showError);
  });

  const showError = (err: unknown) => banner.replaceChildren(notice('error', errorMessage(err)));

  // Consent and recording.
  const recordingPanel = h('div', { class: 'side-panel recording-panel', 'data-testid': 'recording-panel' });
  let consent = state.consent;
  let recordingOn = state.recording.state === 'recording';
  const consentLabel = () => {
    if (consent.state === 'none') return t('consentNone');
    return consent.method === 'in_app' ? t('consentGivenInApp') : consent.method === 'verbal_witnessed' ? t('consentGivenVerbal') : t('consentGivenWritten');
  };
  const consentTextNow = () => (currentLang() === 'en' ? state.consentText.en : state.consentText['zh-CN']);
  const act = (p: Promise<unknown>) => void p.then(renderRecording, showError);
  // Sensitive categories the host ticks before starting (kept across re-renders).
  const categories = new Set<string>();
  const categoryPicker = () =>
    h(
      'fieldset',
      { class: 'categories', 'data-testid': 'recording-categories' },
      h('legend', {}, t('sensitiveCategories')),
      ...SENSITIVE_CATEGORIES.map((c) => {
        const box = h('input', { type: 'checkbox', value: c, checked: categories.has(c) });
        box.addEventListener('change', () => (box.checked ? categories.add(c) : categories.delete(c)));
        return h('label', {}, box, categoryName(c));
      }),
    );
  const renderRecording = () => {
    const rows: Array<HTMLElement | null> = [
      h('h3', {}, t('recordingSection')),
      h('p', { class: `consent-state ${consent.state}`, 'data-testid': 'consent-state', 'data-state': consent.state }, consentLabel()),
    ];
    const role = state.self.role;
    if (role === 'patient' && consent.state === 'none') {
      rows.push(
        h('div', { class: 'consent-ask' }, h('p', {}, t('consentAsk')), h('p', { class: 'consent-text' }, consentTextNow())),
        h('button', { type: 'button', class: 'primary', 'data-testid': 'agree-recording', onclick: () => act(roomSession.giveConsent({ method: 'in_app', textVersion: state.consentText.version })) }, t('agreeToRecord')),
      );
    }
    const mine = consent.state === 'given' && (role === 'host' || (role === 'patient' && consent.patientUserId === who.userId));
    if (mine) {
      rows.push(
        h('button', {
          type: 'button',
          class: 'small danger',
          'data-testid': 'withdraw-consent',
          onclick: () => {
            if (confirm(t('withdrawConsentConfirm'))) act(roomSession.withdrawConsent());
          },
        }, t('withdrawConsent')),
      );
    }
    if (role === 'host') {
      if (consent.state === 'none') {
        const patient = [...peers.values()].find((p) => p.role === 'patient');
        rows.push(
          patient
            ? h('button', {
                type: 'button',
                'data-testid': 'record-verbal-consent',
                onclick: () => {
                  if (confirm(`${consentTextNow()}\n\n${t('recordVerbalConsentConfirm')}`)) {
                    act(roomSession.giveConsent({ method: 'verbal_witnessed', patientUserId: patient.userId, textVersion: state.consentText.version }));
                  }
                },
              }, t('recordVerbalConsent'))
            : h('p', { class: 'muted' }, t('noPatientPresent')),
        );
      } else {
        if (!recordingOn) rows.push(categoryPicker());
        rows.push(
          recordingOn
            ? h('button', { type: 'button', class: 'danger', 'data-testid': 'stop-recording', onclick: () => act(roomSession.stopRecording()) }, t('stopRecording'))
            : h('button', { type: 'button', class: 'primary', 'data-testid': 'start-recording', onclick: () => act(roomSession.startRecording([...categories])) }, t('startRecording')),
        );
      }
    }
    recordingPanel.replaceChildren(...rows.filter((r): r is HTMLElement => r !== null));
  };
  renderRecording();

  // Side panel tabs.
  const participantsPanel = h('div', { class: 'side-panel' }, h('h3', {}, t('participants')), participantList, caps.admit ? lobbyHeading : null, caps.admit ? lobbyList : null);
  // The visit's practitioners write prescriptions here, in person.
  const rxPanel = state.self.role === 'host' || state.self.role === 'expert' ? prescriptionPanel({ roomSession, inVisit: visitOf(who) !== null }) : null;
  const chatPanel = h('div', { class: 'side-panel chat' }, h('h3', {}, t('chat')), chatList, chatForm);

  const page = h(
    'div',
    { class: 'room', 'data-testid': 'room' },
    h(
      'header',
      { class: 'room-bar' },
      h('strong', {}, visitOf(who) ? `${t('appName')} · ${t('consultation')} ${visitOf(who)!.replace(/^cons-/, '').slice(0, 8)}` : `${t('appName')} · ${t('roomLabel')} ${who.roomId}`),
      // The consultation in its own tab (the opener shares this tab's sign-in), to read documents and write the opinion.
      visitOf(who) ? h('a', { class: 'room-bar-link', href: backHref(who), target: '_blank', rel: 'opener', 'data-testid': 'open-consultation-tab' }, t('consultationInNewTab')) : null,
      recording,
      connection,
      h('span', { class: 'spacer' }),
      h('span', {}, `${who.displayName ?? who.userId}（${roleName(who.role)}）`),
    ),
    banner,
    h('div', { class: 'room-main' }, stage, h('aside', { class: 'side' }, participantsPanel, rxPanel, recordingPanel, chatPanel)),
    h('footer', { class: 'controls' }, micButton, camButton, screenButton, h('span', { class: 'spacer' }), endButton, leaveButton),
    audio.element,
  );
  document.title = `${t('room')} ${who.roomId} · ${t('appName')}`;
  mount(page);

  // Start sending what the devices give us.
  const localStream = picker.stream();
  roomSession
    .publish({ mic: localStream?.getAudioTracks()[0], camera: localStream?.getVideoTracks()[0] })
    .then(refreshControls, showError);
  picker.onChange((s) => {
    const mic = s.getAudioTracks()[0];
    const cam = s.getVideoTracks()[0];
    if (mic) void roomSession.replaceTrack('mic', mic);
    if (cam) {
      void roomSession.replaceTrack('camera', cam);
      selfTile.attach(cam, null);
    }
  });

  // Server events.
  roomSession.on('track', (remote) => {
    const peer = peers.get(remote.peerId);
    if (remote.track.kind === 'audio') {
      audio.play(remote.consumerId, remote.track);
      tiles.get(tileKey(remote.peerId, 'camera'))?.setMicMuted(remote.producerPaused);
      return;
    }
    const tile = addTile(remote.peerId, remote.source === 'screen' ? 'screen' : 'camera', peer ?? { displayName: null, userId: '?', role: 'observer' });
    tile.attach(remote.track, remote.consumerId);
    markFirstFrame(tile.video);
    if (remote.producerPaused) tile.showVideo(false);
    consumerTile.set(remote.consumerId, tile);
  });
  roomSession.on('room:consumerClosed', ({ consumerId }) => {
    if (audio.stop(consumerId)) return;
    const tile = consumerTile.get(consumerId);
    consumerTile.delete(consumerId);
    if (!tile) return;
    if (tile.element.classList.contains('screen')) tile.element.remove();
    else tile.detach();
    for (const [key, t2] of tiles) if (t2 === tile && tile.element.classList.contains('screen')) tiles.delete(key);
  });
  roomSession.on('room:producerPaused', ({ consumerId, peerId, source }) => {
    if (source === 'mic') tiles.get(tileKey(peerId, 'camera'))?.setMicMuted(true);
    else consumerTile.get(consumerId)?.showVideo(false);
  });
  roomSession.on('room:producerResumed', ({ consumerId, peerId, source }) => {
    if (source === 'mic') tiles.get(tileKey(peerId, 'camera'))?.setMicMuted(false);
    else consumerTile.get(consumerId)?.showVideo(true);
  });
  roomSession.on('room:consumerPaused', ({ consumerId }) => consumerTile.get(consumerId)?.setPausedForNetwork(true));
  roomSession.on('room:consumerResumed', ({ consumerId }) => consumerTile.get(consumerId)?.setPausedForNetwork(false));
  roomSession.on('room:peerJoined', (peer) => {
    peers.set(peer.peerId, peer);
    addTile(peer.peerId, 'camera', peer).setQuality(peer.networkQuality);
    renderParticipants();
    renderRecording();
  });
  roomSession.on('room:peerLeft', ({ peerId, reason }) => {
    if (peerId === selfId) {
      endingScreen(roomSession, picker, { kind: 'left', reason }, who);
      return;
    }
    peers.delete(peerId);
    removeTile(tileKey(peerId, 'camera'));
    removeTile(tileKey(peerId, 'screen'));
    renderParticipants();
    renderRecording();
  });
  roomSession.on('room:peerMedia', ({ peerId, producers }) => {
    const peer = peers.get(peerId);
    if (peer) peers.set(peerId, { ...peer, producers });
    tiles.get(tileKey(peerId, 'camera'))?.setMicMuted(producers.find((p) => p.source === 'mic')?.paused ?? true);
  });
  roomSession.on('room:lobby', renderLobby);
  roomSession.on('room:activeSpeaker', ({ peerId }) => {
    for (const [key, tile] of tiles) tile.setSpeaking(peerId !== null && key === tileKey(peerId, 'camera'));
  });
  roomSession.on('room:networkQuality', ({ peerId, quality }) => tiles.get(tileKey(peerId, 'camera'))?.setQuality(quality));
  roomSession.on('room:recording', (r) => {
    recordingOn = r.state === 'recording';
    setRecording(recordingOn);
    renderRecording();
  });
  roomSession.on('room:consent', (c) => {
    consent = c;
    renderRecording();
  });
  roomSession.on('chat:message', addChat);
  roomSession.on('room:closed', ({ reason }) => endingScreen(roomSession, picker, { kind: 'closed', reason }, who));
  roomSession.on('session:closing', ({ reason }) => endingScreen(roomSession, picker, { kind: 'disconnected', reason }, who));
  roomSession.on('session:expiring', () => {
    banner.replaceChildren(notice('info', t('sessionExpiringSoon')));
    void (visitOf(who) ? renewVisit(visitOf(who)!, roomSession) : renewToken(who, roomSession)).then(
      () => banner.replaceChildren(),
      () => undefined,
    );
  });
  roomSession.on('connection', (c) => {
    connection.dataset['state'] = c;
    connection.textContent = c === 'reconnecting' ? t('reconnecting') : '';
    if (c === 'connected') banner.replaceChildren(notice('ok', t('reconnected')));
  });
  roomSession.on('mediaRestarting', () => {
    banner.replaceChildren(notice('info', t('mediaResetting')));
    audio.clear();
    // Remote videos come back as their consumers are created again.
    for (const [key, tile] of tiles) {
      if (tile.element.dataset['self'] !== undefined && tile.element.getAttribute('data-self') === '') continue;
      if (key.endsWith(':screen')) removeTile(key);
      else tile.detach();
    }
    consumerTile.clear();
  });
  roomSession.on('mediaRestored', () => banner.replaceChildren());
  roomSession.on('resumed', (now) => {
    // Catch up with what happened while the connection was down.
    for (const gone of [...peers.keys()].filter((id) => !now.peers.some((p) => p.peerId === id))) {
      peers.delete(gone);
      removeTile(tileKey(gone, 'camera'));
      removeTile(tileKey(gone, 'screen'));
    }
    for (const peer of now.peers) {
      peers.set(peer.peerId, peer);
      const tile = addTile(peer.peerId, 'camera', peer);
      tile.setMicMuted(peer.producers.find((p) => p.source === 'mic')?.paused ?? true);
      tile.setQuality(peer.networkQuality);
    }
    renderParticipants();
    if (caps.admit) renderLobby(now.lobby);
    now.chat.forEach(addChat);
    consent = now.consent;
    recordingOn = now.recording.state === 'recording';
    setRecording(recordingOn);
    renderRecording();
  });
  roomSession.on('resumeFailed', () => endingScreen(roomSession, picker, { kind: 'left', reason: 'connection_lost' }, who));
  roomSession.on('failure', showError);

  // Receive statistics per tile, every two seconds.
  const statsTimer = window.setInterval(() => {
    if (ended) {
      window.clearInterval(statsTimer);
      return;
    }
    for (const tile of tiles.values()) {
      const v = tile.video;
      if (!tile.consumerId || v.hidden) continue;
      const quality = v.getVideoPlaybackQuality();
      // A new track (after a media reset) starts counting from zero again.
      const previous = Math.min(Number(v.dataset['frames'] ?? 0), quality.totalVideoFrames);
      v.dataset['frames'] = String(quality.totalVideoFrames);
      tile.setStats({ width: v.videoWidth, height: v.videoHeight, framesDecoded: quality.totalVideoFrames, fps: (quality.totalVideoFrames - previous) / 2 });
    }
  }, 2000);
  window.addEventListener('pagehide', () => {
    ended = true;
    void roomSession.close();
  });
}

/** A visit: a fresh visit token (minted with the staff session) for the same connection. */
async function renewVisit(consultationId: string, roomSession: RoomSession): Promise<void> {
  const fresh = await fetchVisit(consultationId);
  await roomSession.refreshToken(fresh.token);
}

/** Development: mint a fresh token for the same identity and hand it to the connection. */
async function renewToken(who: StoredSession, roomSession: RoomSession): Promise<void> {
  const info = await serverInfo();
  if (!info.devLogin) throw new Error('no token renewal in this deployment');
  const fresh = await api<{ token: string; expiresAt: number }>('POST', '/api/dev/token', {
    role: who.role,
    userId: who.userId,
    ...(who.roomId ? { roomId: who.roomId } : {}),
    ...(who.displayName ? { displayName: who.displayName } : {}),
  });
  await roomSession.refreshToken(fresh.token);
  session.set({ ...who, token: fresh.token, expiresAt: fresh.expiresAt });
}

// --- 4. How it ended ---------------------------------------------------------------

function endingScreen(roomSession: RoomSession, picker: DevicePicker, ending: Ending, who: StoredSession): void {
  void roomSession.close({ leave: false });
  picker.stop();
  const text = (() => {
    switch (ending.kind) {
      case 'closed':
        return ending.reason === 'visit_ended' ? t('roomClosedEnded') : t('roomClosedShutdown');
      case 'denied':
        return t('denied');
      case 'left': {
        const reason = ending.reason;
        switch (reason) {
          case 'removed':
            return t('youWereRemoved');
          case 'replaced':
            return t('youWereReplaced');
          case 'suspended':
            return t('youWereSuspended');
          case 'token_expired':
            return t('tokenExpired');
          case 'left':
            return t('youLeft');
          case 'connection_lost':
            return t('connectionLostLeft');
          default: {
            const unreachable: never = reason;
            return String(unreachable);
          }
        }
      }
      case 'disconnected':
        return ending.reason === 'token_expired' ? t('tokenExpired') : ending.reason === 'server_shutdown' ? t('roomClosedShutdown') : t('youWereRemoved');
      default: {
        const unreachable: never = ending;
        return String(unreachable);
      }
    }
  })();
  // Neither an ended visit nor a suspended practitioner comes back in.
  const canRejoin = !(ending.kind === 'closed' && ending.reason === 'visit_ended') && !(ending.kind === 'left' && ending.reason === 'suspended');
  mount(
    layout(
      t('room'),
      h('section', { class: 'panel ended', 'data-testid': 'ended', 'data-kind': ending.kind }, h('p', { class: 'ended-text' }, text)),
      h(
        'p',
        { class: 'buttons' },
        canRejoin ? h('a', { class: 'button', href: visitOf(who) ? `/room?consultation=${encodeURIComponent(visitOf(who)!)}` : '/room' }, t('rejoin')) : null,
        visitOf(who)
          ? h('a', { class: 'button secondary', href: backHref(who), 'data-testid': 'back-to-consultation' }, t('backToConsultation'))
          : h('a', { class: 'button secondary', href: '/' }, t('backHome')),
      ),
    ),
  );
}
