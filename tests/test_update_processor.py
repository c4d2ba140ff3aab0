"""bot/update_processor.py: different chats side by side, each chat's updates in order."""

import asyncio

from telegram import Chat, Message, Update, User

from bot.update_processor import ChatOrderedProcessor, order_key

BOT_ID = 99


def _update(update_id: int, chat_id: int) -> Update:
    user = User(chat_id if chat_id > 0 else 1, "U", is_bot=False)
    chat = Chat(chat_id, "private" if chat_id > 0 else "supergroup")
    message = Message(update_id, date=None, chat=chat, from_user=user, text="q")  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def _run(processor: ChatOrderedProcessor, updates: list[Update], delays: dict[int, float]):
    events: list[tuple[str, int]] = []

    async def handle(update: Update) -> None:
        events.append(("start", update.update_id))
        await asyncio.sleep(delays.get(update.update_id, 0))
        events.append(("end", update.update_id))

    # As PTB does with concurrent updates: one task per update, created in arrival order.
    tasks = [asyncio.create_task(processor.process_update(u, handle(u))) for u in updates]
    await asyncio.gather(*tasks)
    return events


async def test_one_chats_updates_run_one_at_a_time_in_arrival_order():
    processor = ChatOrderedProcessor(8)
    updates = [_update(n, 1001) for n in range(1, 6)]
    # The first is the slowest: without the ordering the others would finish before it.
    events = await _run(processor, updates, {1: 0.05, 2: 0.02, 3: 0.0, 4: 0.01, 5: 0.0})
    assert events == [(kind, n) for n in range(1, 6) for kind in ("start", "end")]


async def test_different_chats_overlap():
    processor = ChatOrderedProcessor(8)
    slow, fast = _update(1, 1001), _update(2, 1002)
    events = await _run(processor, [slow, fast], {1: 0.05})
    assert events == [("start", 1), ("start", 2), ("end", 2), ("end", 1)]


async def test_the_concurrency_limit_holds():
    processor = ChatOrderedProcessor(2)
    running = peak = 0

    async def handle() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    updates = [_update(n, 2000 + n) for n in range(6)]
    await asyncio.gather(*(processor.process_update(u, handle()) for u in updates))
    assert peak == 2


def test_keys_are_chat_then_user_then_shared():
    assert order_key(_update(1, 1001)) == ("chat", 1001)
    assert order_key(_update(2, -100500)) == ("chat", -100500)
    assert order_key(Update(3)) == ("other",)
    assert order_key(object()) == ("other",)
