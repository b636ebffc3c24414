// Which request slots are free, being read back into, or out at the server: the accounting that
// lets a render loop stream frames without ever waiting (engine-free; tested under Mono).
using System;

namespace ArtEm
{
    public enum SlotState
    {
        Free,
        Reading,  // the GPU is copying a frame's eyes into it
        Out,      // sent: the server's until this frame's reply or a later frame's
    }

    /// <summary>
    /// Slot accounting with the server's rule, latest frame wins: a reply frees its own slot and
    /// every earlier frame's (answered or dropped); a refused frame frees only its own. When no
    /// slot is free the frame is skipped, never waited for.
    /// </summary>
    public sealed class FrameSlots
    {
        readonly SlotState[] state;
        readonly ulong[] frame;   // the frame id a slot was sent with
        readonly int[] pending;   // eyes still being read back into a Reading slot
        ulong nextId = 1;

        public FrameSlots(int count)
        {
            if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "expected at least 1 slot");
            state = new SlotState[count];
            frame = new ulong[count];
            pending = new int[count];
        }

        public int Count => state.Length;
        public SlotState this[int slot] => state[slot];

        /// <summary>Frames skipped because every slot was busy (the server or the GPU is behind).</summary>
        public int Skipped { get; private set; }

        public int InState(SlotState s) => Array.FindAll(state, x => x == s).Length;

        /// <summary>
        /// A free slot for a frame of <c>eyes</c> readbacks, now Reading; -1 (counted as skipped)
        /// when none is free.
        /// </summary>
        public int BeginReadback(int eyes)
        {
            if (eyes < 1) throw new ArgumentOutOfRangeException(nameof(eyes), eyes, "expected 1 or 2 eyes");
            int slot = Array.IndexOf(state, SlotState.Free);
            if (slot < 0)
            {
                Skipped++;
                return -1;
            }
            state[slot] = SlotState.Reading;
            pending[slot] = eyes;
            return slot;
        }

        /// <summary>One eye's readback landed in <c>slot</c>: true when the frame is complete.</summary>
        public bool EyeRead(int slot)
        {
            Expect(slot, SlotState.Reading);
            return --pending[slot] == 0;
        }

        /// <summary>A readback failed (or the frame is abandoned): the slot is free again.</summary>
        public void Abandon(int slot)
        {
            Expect(slot, SlotState.Reading);
            state[slot] = SlotState.Free;
        }

        /// <summary>The complete frame in <c>slot</c> goes out: its id, larger than every earlier frame's.</summary>
        public ulong Send(int slot)
        {
            Expect(slot, SlotState.Reading);
            if (pending[slot] != 0)
                throw new InvalidOperationException($"slot {slot}: {pending[slot]} eye(s) still being read back");
            state[slot] = SlotState.Out;
            frame[slot] = nextId;
            return nextId++;
        }

        /// <summary>The send itself failed: nothing is out from <c>slot</c>.</summary>
        public void SendFailed(int slot)
        {
            Expect(slot, SlotState.Out);
            state[slot] = SlotState.Free;
        }

        /// <summary>A reply came: frees the slots it accounts for. Returns how many frames it freed.</summary>
        public int Replied(ulong id, bool refused)
        {
            int freed = 0;
            for (int s = 0; s < state.Length; s++)
            {
                if (state[s] != SlotState.Out || (refused ? frame[s] != id : frame[s] > id)) continue;
                state[s] = SlotState.Free;
                freed++;
            }
            return freed;
        }

        void Expect(int slot, SlotState s)
        {
            if (slot < 0 || slot >= state.Length)
                throw new ArgumentOutOfRangeException(nameof(slot), slot, $"expected 0..{state.Length - 1}");
            if (state[slot] != s) throw new InvalidOperationException($"slot {slot} is {state[slot]}, expected {s}");
        }
    }
}
