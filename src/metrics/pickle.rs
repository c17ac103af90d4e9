//! A small reader for the pickle streams inside PyTorch archives, which never runs anything.
//!
//! It understands the opcodes that `torch.jit.save` and `torch.save` write (pickle protocol 2)
//! and builds a tree of [`Value`]s: class construction (`REDUCE`, `NEWOBJ`) and state
//! (`BUILD`) are recorded as data, never executed, so a hostile file cannot run code.

use std::collections::HashMap;

/// One pickled value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A class or function named by `GLOBAL`: module and name.
    Global { module: String, name: String },
    /// `callable(*args)`, recorded by `REDUCE` or `NEWOBJ`, with the state `BUILD` gave it.
    Call { callable: Box<Value>, args: Vec<Value>, state: Option<Box<Value>> },
    /// A persistent id (`BINPERSID`); in PyTorch archives, a reference to a tensor storage.
    Persistent(Box<Value>),
}

impl Value {
    /// Returns the `module.name` of a `Call`'s callable, if it is a global.
    pub fn call_target(&self) -> Option<String> {
        match self {
            Value::Call { callable, .. } => match callable.as_ref() {
                Value::Global { module, name } => Some(format!("{module}.{name}")),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Error reading a pickle stream.
#[derive(Debug, thiserror::Error)]
pub enum PickleError {
    #[error("the pickle stream ends early at byte {0}")]
    Truncated(usize),
    #[error("unsupported pickle opcode 0x{opcode:02x} at byte {offset}")]
    Unsupported { opcode: u8, offset: usize },
    #[error("malformed pickle at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: &'static str },
}

/// Stack entries: values, with the memo slot they were stored in, or the marks that `MARK`
/// pushes for the opcodes that take "everything since the last mark".
enum Item {
    Mark,
    Value(Value, Option<u32>),
}

/// Parses one pickle stream up to its `STOP` opcode.
///
/// Memoised values are copies, not shared references. A list, dict or object that is stored
/// with `BINPUT` and then filled while it is on top of the stack (the order pickle writes them
/// in) has its memo copy updated too, so a later `BINGET` gets it filled.
/// NOTE: a container changed after it left the top of the stack keeps a stale memo copy;
/// PyTorch archives never do that.
pub fn parse(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut machine = Machine { bytes, pos: 0, stack: Vec::new(), memo: HashMap::new() };
    loop {
        let offset = machine.pos;
        let opcode = machine.take(1)?[0];
        if opcode == b'.' {
            return machine.pop(offset);
        }
        machine.execute(opcode, offset)?;
    }
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn execute(&mut self, opcode: u8, offset: usize) -> Result<(), PickleError> {
        match opcode {
            0x80 => drop(self.take(1)?),                      // PROTO
            0x95 => drop(self.take(8)?),                      // FRAME
            b'(' => self.stack.push(Item::Mark),              // MARK
            b'N' => self.push(Value::None),                   // NONE
            0x88 => self.push(Value::Bool(true)),             // NEWTRUE
            0x89 => self.push(Value::Bool(false)),            // NEWFALSE
            b'K' => {
                let value = self.take(1)?[0] as i64; // BININT1
                self.push_int(value)
            }
            b'M' => {
                let value = self.u16()? as i64; // BININT2
                self.push_int(value)
            }
            b'J' => {
                let value = self.u32()? as i32 as i64; // BININT
                self.push_int(value)
            }
            0x8a => self.long1(offset)?,                      // LONG1
            b'G' => self.binfloat()?,                         // BINFLOAT
            b'X' => {
                let length = self.u32()? as usize; // BINUNICODE
                self.string(length, offset)?
            }
            0x8c => {
                let length = self.take(1)?[0] as usize; // SHORT_BINUNICODE
                self.string(length, offset)?
            }
            b'c' => self.global(offset)?,                     // GLOBAL
            0x93 => self.stack_global(offset)?,               // STACK_GLOBAL
            b')' => self.push(Value::Tuple(Vec::new())),      // EMPTY_TUPLE
            b']' => self.push(Value::List(Vec::new())),       // EMPTY_LIST
            b'}' => self.push(Value::Dict(Vec::new())),       // EMPTY_DICT
            b't' => self.tuple_since_mark(offset)?,           // TUPLE
            0x85..=0x87 => self.small_tuple((opcode - 0x84) as usize, offset)?, // TUPLE1..3
            b'a' | b'e' => self.append(opcode == b'e', offset)?, // APPEND, APPENDS
            b's' | b'u' => self.set_items(opcode == b'u', offset)?, // SETITEM, SETITEMS
            b'q' => {
                let index = self.take(1)?[0] as u32; // BINPUT
                self.put(index, offset)?
            }
            b'r' => {
                let index = self.u32()?; // LONG_BINPUT
                self.put(index, offset)?
            }
            0x94 => {
                let index = self.memo.len() as u32; // MEMOIZE
                self.put(index, offset)?
            }
            b'h' => {
                let index = self.take(1)?[0] as u32; // BINGET
                self.get(index, offset)?
            }
            b'j' => {
                let index = self.u32()?; // LONG_BINGET
                self.get(index, offset)?
            }
            b'Q' => self.persistent(offset)?,                 // BINPERSID
            b'R' | 0x81 => self.call(offset)?,                // REDUCE, NEWOBJ
            b'b' => self.build(offset)?,                      // BUILD
            _ => return Err(PickleError::Unsupported { opcode, offset }),
        }
        Ok(())
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(count).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(PickleError::Truncated(self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn line(&mut self, offset: usize) -> Result<String, PickleError> {
        let rest = &self.bytes[self.pos..];
        let length = rest.iter().position(|&b| b == b'\n').ok_or(PickleError::Truncated(offset))?;
        let text = std::str::from_utf8(&rest[..length]).map_err(|_| malformed(offset, "GLOBAL name is not UTF-8"))?;
        self.pos += length + 1;
        Ok(text.to_owned())
    }

    fn push(&mut self, value: Value) {
        self.stack.push(Item::Value(value, None));
    }

    fn push_int(&mut self, value: i64) {
        self.push(Value::Int(value));
    }

    fn pop(&mut self, offset: usize) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Item::Value(value, _)) => Ok(value),
            Some(Item::Mark) => Err(malformed(offset, "a mark where a value was expected")),
            None => Err(malformed(offset, "the stack is empty")),
        }
    }

    fn top(&mut self, offset: usize) -> Result<&mut Value, PickleError> {
        match self.stack.last_mut() {
            Some(Item::Value(value, _)) => Ok(value),
            _ => Err(malformed(offset, "no value on top of the stack")),
        }
    }

    /// Refreshes the memo copy of the top value after it changed in place.
    fn sync_top(&mut self) {
        if let Some(Item::Value(value, Some(index))) = self.stack.last() {
            self.memo.insert(*index, value.clone());
        }
    }

    /// Pops every value above the last mark, and the mark.
    fn pop_to_mark(&mut self, offset: usize) -> Result<Vec<Value>, PickleError> {
        let mark = self.stack.iter().rposition(|item| matches!(item, Item::Mark));
        let mark = mark.ok_or(malformed(offset, "no mark on the stack"))?;
        let values = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(values
            .into_iter()
            .map(|item| match item {
                Item::Value(value, _) => value,
                Item::Mark => unreachable!("the last mark was found above"),
            })
            .collect())
    }

    fn long1(&mut self, offset: usize) -> Result<(), PickleError> {
        let length = self.take(1)?[0] as usize;
        let bytes = self.take(length)?;
        if length > 8 {
            return Err(malformed(offset, "integer wider than 64 bits"));
        }
        let fill = if bytes.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 };
        let mut wide = [fill; 8];
        wide[..length].copy_from_slice(bytes);
        self.push_int(i64::from_le_bytes(wide));
        Ok(())
    }

    fn binfloat(&mut self) -> Result<(), PickleError> {
        let bytes: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
        self.push(Value::Float(f64::from_be_bytes(bytes)));
        Ok(())
    }

    fn string(&mut self, length: usize, offset: usize) -> Result<(), PickleError> {
        let bytes = self.take(length)?;
        let text = std::str::from_utf8(bytes).map_err(|_| malformed(offset, "string is not UTF-8"))?;
        self.push(Value::Str(text.to_owned()));
        Ok(())
    }

    fn global(&mut self, offset: usize) -> Result<(), PickleError> {
        let module = self.line(offset)?;
        let name = self.line(offset)?;
        self.push(Value::Global { module, name });
        Ok(())
    }

    fn stack_global(&mut self, offset: usize) -> Result<(), PickleError> {
        match (self.pop(offset)?, self.pop(offset)?) {
            (Value::Str(name), Value::Str(module)) => {
                self.push(Value::Global { module, name });
                Ok(())
            }
            _ => Err(malformed(offset, "STACK_GLOBAL needs two strings")),
        }
    }

    fn tuple_since_mark(&mut self, offset: usize) -> Result<(), PickleError> {
        let values = self.pop_to_mark(offset)?;
        self.push(Value::Tuple(values));
        Ok(())
    }

    fn small_tuple(&mut self, count: usize, offset: usize) -> Result<(), PickleError> {
        let mut values = (0..count).map(|_| self.pop(offset)).collect::<Result<Vec<_>, _>>()?;
        values.reverse();
        self.push(Value::Tuple(values));
        Ok(())
    }

    fn append(&mut self, many: bool, offset: usize) -> Result<(), PickleError> {
        let values = match many {
            true => self.pop_to_mark(offset)?,
            false => vec![self.pop(offset)?],
        };
        self.extend_top(offset, |top| match top {
            Value::List(list) => Ok(list.extend(values)),
            _ => Err("APPEND onto something that is not a list"),
        })
    }

    /// Changes the value on top of the stack in place and refreshes its memo copy.
    fn extend_top(&mut self, offset: usize, change: impl FnOnce(&mut Value) -> Result<(), &'static str>) -> Result<(), PickleError> {
        change(self.top(offset)?).map_err(|reason| malformed(offset, reason))?;
        self.sync_top();
        Ok(())
    }

    fn set_items(&mut self, many: bool, offset: usize) -> Result<(), PickleError> {
        let values = match many {
            true => self.pop_to_mark(offset)?,
            false => {
                let value = self.pop(offset)?;
                vec![self.pop(offset)?, value]
            }
        };
        if values.len() % 2 != 0 {
            return Err(malformed(offset, "SETITEMS with an odd number of values"));
        }
        let mut pairs = Vec::with_capacity(values.len() / 2);
        let mut values = values.into_iter();
        while let (Some(key), Some(value)) = (values.next(), values.next()) {
            pairs.push((key, value));
        }
        self.extend_top(offset, |top| match top {
            Value::Dict(dict) => Ok(dict.extend(pairs)),
            _ => Err("SETITEMS onto something that is not a dict"),
        })
    }

    fn put(&mut self, index: u32, offset: usize) -> Result<(), PickleError> {
        match self.stack.last_mut() {
            Some(Item::Value(value, slot)) => {
                *slot = Some(index);
                self.memo.insert(index, value.clone());
                Ok(())
            }
            _ => Err(malformed(offset, "BINPUT with no value on top of the stack")),
        }
    }

    fn get(&mut self, index: u32, offset: usize) -> Result<(), PickleError> {
        let value = self.memo.get(&index).cloned();
        self.push(value.ok_or(malformed(offset, "BINGET of an index never stored"))?);
        Ok(())
    }

    fn persistent(&mut self, offset: usize) -> Result<(), PickleError> {
        let id = self.pop(offset)?;
        self.push(Value::Persistent(Box::new(id)));
        Ok(())
    }

    fn call(&mut self, offset: usize) -> Result<(), PickleError> {
        let args = match self.pop(offset)? {
            Value::Tuple(args) => args,
            _ => return Err(malformed(offset, "call arguments are not a tuple")),
        };
        let callable = Box::new(self.pop(offset)?);
        self.push(Value::Call { callable, args, state: None });
        Ok(())
    }

    fn build(&mut self, offset: usize) -> Result<(), PickleError> {
        let new_state = self.pop(offset)?;
        self.extend_top(offset, |top| match top {
            Value::Call { state, .. } => Ok(*state = Some(Box::new(new_state))),
            _ => Err("BUILD on something that is not an object"),
        })
    }
}

fn malformed(offset: usize, reason: &'static str) -> PickleError {
    PickleError::Malformed { offset, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_python_pickled_object_tree() {
        // pickle.dumps({'a': [1, -2, 70000], 'b': (True, None, 'x'), 'c': 0.5}, protocol=2)
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffJp\x11\x01\x00eX\x01\x00\x00\x00bq\x03\x88NX\x01\x00\x00\x00xq\x04\x87q\x05X\x01\x00\x00\x00cq\x06G?\xe0\x00\x00\x00\x00\x00\x00u.";
        let value = parse(bytes).unwrap();
        let Value::Dict(pairs) = value else { panic!("not a dict: {value:?}") };
        assert_eq!(pairs[0].1, Value::List(vec![Value::Int(1), Value::Int(-2), Value::Int(70000)]));
        assert_eq!(pairs[1].1, Value::Tuple(vec![Value::Bool(true), Value::None, Value::Str("x".into())]));
        assert_eq!(pairs[2].1, Value::Float(0.5));
    }

    #[test]
    fn memo_returns_a_list_filled_after_storing() {
        // p = [0, 1]; pickle.dumps([p, p], protocol=2): the second element is a BINGET of the first.
        let bytes = b"\x80\x02]q\x00(]q\x01(K\x00K\x01eh\x01e.";
        let pair = Value::List(vec![Value::Int(0), Value::Int(1)]);
        assert_eq!(parse(bytes).unwrap(), Value::List(vec![pair.clone(), pair]));
    }

    #[test]
    fn records_object_construction_without_running_it() {
        // GLOBAL 'os system', a tuple argument, REDUCE: recorded, never called.
        let bytes = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.";
        let value = parse(bytes).unwrap();
        assert_eq!(value.call_target().as_deref(), Some("os.system"));
    }

    #[test]
    fn truncated_and_unknown_streams_are_errors() {
        assert!(matches!(parse(b"\x80\x02X\x05\x00\x00\x00ab"), Err(PickleError::Truncated(_))));
        assert!(matches!(parse(b"\x80\x02\xff."), Err(PickleError::Unsupported { opcode: 0xff, .. })));
    }
}
